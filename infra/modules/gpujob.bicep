// The GPU worker: a Container Apps environment with a serverless GPU workload profile and an
// event-driven Container Apps job running `guidednet worker`, started by KEDA's azure-servicebus
// scaler (managed identity) when job messages wait in the queue.
param location string
param tags object
param suffix string
param gpuType string
param parallelism int
param replicaTimeoutSeconds int
param image string
param registryLoginServer string
param storageAccountName string
param serviceBusName string
param serviceBusNamespace string
param jobQueueName string
param noticeQueueName string
param logAnalyticsWorkspaceId string
param applicationInsightsConnectionString string
@description('Infrastructure subnet of the environment (usePrivateEndpoints); empty: none.')
param subnetId string = ''

var gpuProfile = gpuType == 'A100' ? 'Consumption-GPU-NC24-A100' : 'Consumption-GPU-NC8as-T4'
var gpuResources = gpuType == 'A100' ? { cpu: json('24'), memory: '220Gi' } : { cpu: json('8'), memory: '56Gi' }
// Until azd deploys the worker image the job runs a public placeholder.
var workerImage = empty(image) ? 'mcr.microsoft.com/k8se/quickstart-jobs:latest' : image

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-gpujob-${suffix}'
  location: location
  tags: tags
}

resource environment 'Microsoft.App/managedEnvironments@2025-01-01' = {
  name: 'cae-guidednet-${suffix}'
  location: location
  tags: tags
  properties: {
    // Logs go to Azure Monitor and, through the diagnostic setting below, to Log Analytics: no workspace key.
    appLogsConfiguration: { destination: 'azure-monitor' }
    vnetConfiguration: empty(subnetId) ? null : { infrastructureSubnetId: subnetId, internal: true }
    workloadProfiles: [
      { name: 'Consumption', workloadProfileType: 'Consumption' }
      { name: 'gpu', workloadProfileType: gpuProfile }
    ]
  }
}

resource environmentLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs-to-workspace'
  scope: environment
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [ { categoryGroup: 'allLogs', enabled: true } ]
  }
}

resource job 'Microsoft.App/jobs@2025-01-01' = {
  name: 'job-gpuworker-${suffix}'
  location: location
  tags: union(tags, { 'azd-service-name': 'gpujob' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'gpu'
    configuration: {
      triggerType: 'Event'
      replicaTimeout: replicaTimeoutSeconds
      replicaRetryLimit: 1
      registries: [ { server: registryLoginServer, identity: identity.id } ]
      eventTriggerConfig: {
        parallelism: parallelism
        replicaCompletionCount: 1
        scale: {
          minExecutions: 0
          maxExecutions: parallelism
          pollingInterval: 30
          rules: [
            {
              name: 'job-queue'
              type: 'azure-servicebus'
              metadata: {
                namespace: serviceBusName
                queueName: jobQueueName
                messageCount: '1'
              }
              identity: identity.id
            }
          ]
        }
      }
    }
    template: {
      containers: [
        {
          name: 'gpuworker'
          image: workerImage
          resources: gpuResources
          env: [
            { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
            { name: 'Storage__AccountName', value: storageAccountName }
            { name: 'Jobs__Transport', value: 'ServiceBus' }
            { name: 'Jobs__ServiceBusNamespace', value: serviceBusNamespace }
            { name: 'Jobs__QueueName', value: jobQueueName }
            { name: 'Jobs__NoticeQueueName', value: noticeQueueName }
            { name: 'Jobs__VisibilityTimeout', value: '00:05:00' }
            { name: 'Worker__Device', value: 'cuda' }
            { name: 'Worker__IdleExit', value: '00:02:00' }
            { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: applicationInsightsConnectionString }
            // The resource takes Entra ID tokens only: the worker sends its spans and metrics with its managed identity.
            { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
          ]
        }
      ]
    }
  }
}

output jobName string = job.name
output environmentName string = environment.name
output workerPrincipalId string = identity.properties.principalId
