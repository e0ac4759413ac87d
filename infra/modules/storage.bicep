// The pipeline's storage account: blob containers of the storage layout, the storage-queue
// transport's queues, and the Functions deployment container. Keys are disabled: every client
// authenticates with Entra ID.
param location string
param tags object
param name string
param jobQueueName string
param noticeQueueName string
@description('false: reachable only through private endpoints (usePrivateEndpoints).')
param publicNetworkAccess bool = true

var containers = [ 'scans', 'datasets', 'models', 'jobs', 'results', 'quarantine', 'deployments' ]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    accessTier: 'Hot'
    publicNetworkAccess: publicNetworkAccess ? 'Enabled' : 'Disabled'
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 14 }
    containerDeleteRetentionPolicy: { enabled: true, days: 14 }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in containers: {
  parent: blobs
  name: container
  properties: { publicAccess: 'None' }
}]

resource queues 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource jobQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queue in [ jobQueueName, '${jobQueueName}-poison', noticeQueueName ]: {
  parent: queues
  name: queue
}]

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
