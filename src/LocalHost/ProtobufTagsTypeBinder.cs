using DurableTask.AzureStorage;

namespace GuidedNet.LocalHost;

/// <summary>
/// The gRPC sidecar hands the backend orchestration tags as protobuf <c>MapField</c>s, and the
/// Azure Storage provider writes their .NET type into each queue message; reading it back fails
/// (the type is not resolvable from the provider's assembly), and the orchestration stalls. Tags
/// are plain string maps: they are written and read as <c>Dictionary&lt;string, string&gt;</c>.
/// </summary>
public sealed class ProtobufTagsTypeBinder : ICustomTypeBinder
{
    private static readonly Type Tags = typeof(Dictionary<string, string>);

    public void BindToName(Type serializedType, out string assemblyName, out string typeName)
    {
        var type = IsProtobufMap(serializedType.FullName) ? Tags : serializedType;
        assemblyName = type.Assembly.FullName!;
        typeName = type.FullName!;
    }

    public Type BindToType(string assemblyName, string typeName) =>
        IsProtobufMap(typeName) ? Tags : Type.GetType($"{typeName}, {assemblyName}", throwOnError: true)!;

    private static bool IsProtobufMap(string? typeName) =>
        typeName is not null && typeName.StartsWith("Google.Protobuf.Collections.MapField`2", StringComparison.Ordinal);
}
