// Optional private networking (usePrivateEndpoints): a virtual network whose subnets hold the
// Functions app's outbound integration, the Container Apps environment and private endpoints for
// storage (blob, queue, table) and Service Bus, with the private DNS zones that resolve their
// names to those endpoints. Storage and Service Bus then refuse public network access.
param location string
param tags object
param suffix string
param storageAccountName string
param serviceBusName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' existing = {
  name: serviceBusName
}

resource network 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-guidednet-${suffix}'
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [ '10.20.0.0/16' ] }
    subnets: [
      {
        name: 'private-endpoints'
        properties: { addressPrefix: '10.20.1.0/24', privateEndpointNetworkPolicies: 'Disabled' }
      }
      {
        // Flex Consumption integrates through a subnet delegated to Microsoft.App/environments.
        name: 'functions'
        properties: {
          addressPrefix: '10.20.2.0/24'
          delegations: [ { name: 'flex', properties: { serviceName: 'Microsoft.App/environments' } } ]
        }
      }
      {
        name: 'container-apps'
        properties: {
          addressPrefix: '10.20.4.0/23'
          delegations: [ { name: 'aca', properties: { serviceName: 'Microsoft.App/environments' } } ]
        }
      }
    ]
  }
}

// Each private endpoint: the resource, its sub-resource (group) and the DNS zone that resolves it.
var endpoints = [
  { name: 'blob', id: storage.id, zone: 'privatelink.blob.${environment().suffixes.storage}' }
  { name: 'queue', id: storage.id, zone: 'privatelink.queue.${environment().suffixes.storage}' }
  { name: 'table', id: storage.id, zone: 'privatelink.table.${environment().suffixes.storage}' }
  { name: 'namespace', id: serviceBus.id, zone: 'privatelink.servicebus.windows.net' }
]

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for endpoint in endpoints: {
  name: endpoint.zone
  location: 'global'
  tags: tags
}]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (endpoint, i) in endpoints: {
  parent: zones[i]
  name: 'vnet-guidednet'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: network.id }
  }
}]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for endpoint in endpoints: {
  name: 'pe-${endpoint.name}-${suffix}'
  location: location
  tags: tags
  properties: {
    subnet: { id: network.properties.subnets[0].id }
    privateLinkServiceConnections: [
      {
        name: endpoint.name
        properties: { privateLinkServiceId: endpoint.id, groupIds: [ endpoint.name ] }
      }
    ]
  }
}]

resource dnsGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (endpoint, i) in endpoints: {
  parent: privateEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [ { name: endpoint.name, properties: { privateDnsZoneId: zones[i].id } } ]
  }
}]

output functionsSubnetId string = network.properties.subnets[1].id
output containerAppsSubnetId string = network.properties.subnets[2].id
