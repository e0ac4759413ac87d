// The Functions app on the Flex Consumption plan: .NET isolated worker, system-assigned identity,
// identity-based connections to storage (AzureWebJobsStorage__accountName) and Service Bus
// (__fullyQualifiedNamespace), the Durable Task hub, and the pipeline's settings.
param location string
param tags object
param name string
param storageAccountName string
param serviceBusNamespace string
param jobQueueName string
param noticeQueueName string
param applicationInsightsConnectionString string
param taskHubName string
param retrainSchedule string
param promotionMargin string
@description('Subnet for outbound VNet integration (usePrivateEndpoints); empty: none.')
param subnetId string = ''
@description('Entra ID app registration the HTTP API requires callers to sign in with; empty: function keys only.')
param apiAuthClientId string = ''

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'functions' })
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: serviceBusNamespace }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: applicationInsightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
        { name: 'DurableTaskHubName', value: taskHubName }
        { name: 'Storage__AccountName', value: storage.name }
        { name: 'Jobs__Transport', value: 'ServiceBus' }
        { name: 'Jobs__ServiceBusNamespace', value: serviceBusNamespace }
        { name: 'Jobs__QueueName', value: jobQueueName }
        { name: 'Jobs__NoticeQueueName', value: noticeQueueName }
        { name: 'Jobs__PollInterval', value: '00:00:30' }
        { name: 'Jobs__HeartbeatTimeout', value: '00:05:00' }
        { name: 'Jobs__MaxAttempts', value: '3' }
        { name: 'Schedule__Retrain', value: retrainSchedule }
        { name: 'Promotion__Margin', value: promotionMargin }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}deployments'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: { name: 'dotnet-isolated', version: '10.0' }
    }
  }
}

// Entra ID in front of the HTTP API: requests without a valid token for the registration get 401.
resource authentication 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(apiAuthClientId)) {
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: apiAuthClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: { allowedAudiences: [ 'api://${apiAuthClientId}', apiAuthClientId ] }
      }
    }
  }
}

output name string = app.name
output url string = 'https://${app.properties.defaultHostName}'
output principalId string = app.identity.principalId
