// Least privilege: the Functions app reads and writes storage (blobs, queues and tables for the
// Durable Task hub, its deployment package) and sends job messages. The worker reads scans and
// datasets, writes only models, jobs and results — each role scoped to its container, so it can
// never touch the deployment package (nor the quarantine) — receives job messages, sends job
// notices (only to their queue) and pulls its image. Both publish telemetry with their identities.
param storageAccountName string
param serviceBusName string
param registryName string
param applicationInsightsName string
param functionsPrincipalId string
param workerPrincipalId string
param noticeQueueName string

var roleIds = {
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageQueueDataMessageSender: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' existing = {
  name: serviceBusName
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource insights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource functionsStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [ roleIds.storageBlobDataContributor, roleIds.storageQueueDataContributor, roleIds.storageTableDataContributor ]: {
  name: guid(storage.id, functionsPrincipalId, role)
  scope: storage
  properties: {
    principalId: functionsPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource functionsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus.id, functionsPrincipalId, roleIds.serviceBusDataSender)
  scope: serviceBus
  properties: {
    principalId: functionsPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataSender)
  }
}

// The containers of the storage layout (BlobLayout) the worker reads from and writes to.
var workerReads = [ 'scans', 'datasets' ]
var workerWrites = [ 'models', 'jobs', 'results' ]

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource readContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for container in workerReads: {
  parent: blobService
  name: container
}]

resource writeContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for container in workerWrites: {
  parent: blobService
  name: container
}]

resource workerReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (container, i) in workerReads: {
  name: guid(storage.id, container, workerPrincipalId, roleIds.storageBlobDataReader)
  scope: readContainers[i]
  properties: {
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataReader)
  }
}]

resource workerWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (container, i) in workerWrites: {
  name: guid(storage.id, container, workerPrincipalId, roleIds.storageBlobDataContributor)
  scope: writeContainers[i]
  properties: {
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataContributor)
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource noticeQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueService
  name: noticeQueueName
}

resource workerNoticeSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, noticeQueueName, workerPrincipalId, roleIds.storageQueueDataMessageSender)
  scope: noticeQueue
  properties: {
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataMessageSender)
  }
}

resource workerReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus.id, workerPrincipalId, roleIds.serviceBusDataReceiver)
  scope: serviceBus
  properties: {
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataReceiver)
  }
}

resource workerPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, workerPrincipalId, roleIds.acrPull)
  scope: registry
  properties: {
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.acrPull)
  }
}

resource telemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principal in [ functionsPrincipalId, workerPrincipalId ]: {
  name: guid(insights.id, principal, roleIds.monitoringMetricsPublisher)
  scope: insights
  properties: {
    principalId: principal
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
  }
}]
