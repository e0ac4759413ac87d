// GuidedNet.Cloud on Azure: storage (drop zone, datasets, models, results, durable state), the
// Service Bus job queue, the Functions app (orchestrations, triggers, HTTP API) on Flex
// Consumption, and the GPU worker as an event-driven Container Apps job on serverless GPUs.
// Every connection uses managed identities and role assignments: no keys, no connection strings.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name; names and tags of every resource derive from it.')
param environmentName string

@minLength(1)
@description('Azure region of the resources. Serverless GPUs are offered in a subset of regions (see docs/deploy.md).')
param location string

@allowed([ 'T4', 'A100' ])
@description('Serverless GPU of the worker job: T4 (NC8as T4, 16 GB) for inference and small training, A100 (NC24 A100, 80 GB) for the paper setting.')
param gpuType string = 'T4'

@minValue(1)
@maxValue(10)
@description('Worker replicas that may run at once (each takes one job message at a time).')
param workerParallelism int = 1

@minValue(600)
@maxValue(86400)
@description('Longest a worker replica may run, in seconds; training jobs need hours.')
param workerReplicaTimeoutSeconds int = 86400

@description('Container image of the GPU worker; azd fills it in on deploy (empty: a placeholder until the first deploy).')
param gpuJobImageName string = ''

@description('NCRONTAB (with seconds) of scheduled retraining.')
param retrainSchedule string = '0 0 2 * * *'

@description('Validation mean Dice a new model must gain over production to be promoted.')
param promotionMargin string = '0.0'

@description('Durable Task hub name of the Functions app.')
param taskHubName string = 'guidednet'

@description('Reach storage and Service Bus only through private endpoints in a virtual network the Functions app and the worker join (Service Bus then runs on Premium); their public endpoints are closed. Deploying the Functions package then needs a machine inside that network (docs/deploy.md).')
param usePrivateEndpoints bool = false

@description('Client id of an Entra ID app registration: when given, the HTTP API accepts only callers signed in with Entra ID for it (App Service Authentication), in addition to function keys.')
param apiAuthClientId string = ''

var suffix = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var jobQueueName = 'guidednet-jobs'
// Workers' notices of job status changes (JobNotices): a storage queue the Functions app's queue trigger drains.
var noticeQueueName = 'guidednet-jobs-notices'

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: group
  params: { location: location, tags: tags, suffix: suffix }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: group
  params: { location: location, tags: tags, name: 'stgn${suffix}', jobQueueName: jobQueueName, noticeQueueName: noticeQueueName, publicNetworkAccess: !usePrivateEndpoints }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: group
  params: { location: location, tags: tags, name: 'sb-guidednet-${suffix}', queueName: jobQueueName, privateOnly: usePrivateEndpoints }
}

module network 'modules/network.bicep' = if (usePrivateEndpoints) {
  name: 'network'
  scope: group
  params: { location: location, tags: tags, suffix: suffix, storageAccountName: storage.outputs.name, serviceBusName: serviceBus.outputs.name }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  scope: group
  params: { location: location, tags: tags, name: 'crgn${suffix}' }
}

module functions 'modules/functions.bicep' = {
  name: 'functions'
  scope: group
  params: {
    location: location
    tags: tags
    name: 'func-guidednet-${suffix}'
    storageAccountName: storage.outputs.name
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    jobQueueName: jobQueueName
    noticeQueueName: noticeQueueName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    taskHubName: taskHubName
    retrainSchedule: retrainSchedule
    promotionMargin: promotionMargin
    subnetId: usePrivateEndpoints ? network!.outputs.functionsSubnetId : ''
    apiAuthClientId: apiAuthClientId
  }
}

module gpuJob 'modules/gpujob.bicep' = {
  name: 'gpujob'
  scope: group
  params: {
    location: location
    tags: tags
    suffix: suffix
    gpuType: gpuType
    parallelism: workerParallelism
    replicaTimeoutSeconds: workerReplicaTimeoutSeconds
    image: gpuJobImageName
    registryLoginServer: registry.outputs.loginServer
    storageAccountName: storage.outputs.name
    serviceBusName: serviceBus.outputs.name
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    jobQueueName: jobQueueName
    noticeQueueName: noticeQueueName
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    subnetId: usePrivateEndpoints ? network!.outputs.containerAppsSubnetId : ''
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: group
  params: {
    storageAccountName: storage.outputs.name
    serviceBusName: serviceBus.outputs.name
    registryName: registry.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    functionsPrincipalId: functions.outputs.principalId
    workerPrincipalId: gpuJob.outputs.workerPrincipalId
    noticeQueueName: noticeQueueName
  }
}

output AZURE_RESOURCE_GROUP string = group.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_STORAGE_ACCOUNT string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_SERVICEBUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output AZURE_JOB_QUEUE string = jobQueueName
output AZURE_FUNCTION_APP_NAME string = functions.outputs.name
output AZURE_FUNCTION_APP_URL string = functions.outputs.url
output AZURE_GPU_JOB_NAME string = gpuJob.outputs.jobName
output AZURE_CONTAINER_APPS_ENVIRONMENT string = gpuJob.outputs.environmentName
