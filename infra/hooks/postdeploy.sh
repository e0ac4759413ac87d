#!/bin/sh
# After `azd deploy`: point the GPU job at the image azd pushed (Container Apps jobs take their
# image from the template), and deliver drop-zone blob events to the Functions blob trigger through
# an Event Grid system topic (its endpoint needs the blobs extension key, which exists only once
# the app runs — hence a hook rather than Bicep).
set -eu
: "${AZURE_RESOURCE_GROUP:?run through azd}"
if [ -n "${SERVICE_GPUJOB_IMAGE_NAME:-}" ]; then
  az containerapp job update -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_GPU_JOB_NAME" --image "$SERVICE_GPUJOB_IMAGE_NAME" --output none
fi
key=$(az functionapp keys list -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" --query "systemKeys.blobs_extension" -o tsv)
storage_id=$(az storage account show -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_STORAGE_ACCOUNT" --query id -o tsv)
topic=evgt-$AZURE_STORAGE_ACCOUNT
az eventgrid system-topic show -g "$AZURE_RESOURCE_GROUP" -n "$topic" >/dev/null 2>&1 ||
  az eventgrid system-topic create -g "$AZURE_RESOURCE_GROUP" -n "$topic" --location "$AZURE_LOCATION" \
    --topic-type Microsoft.Storage.StorageAccounts --source "$storage_id" --output none
az eventgrid system-topic event-subscription create -g "$AZURE_RESOURCE_GROUP" --system-topic-name "$topic" -n scans-incoming \
  --endpoint "$AZURE_FUNCTION_APP_URL/runtime/webhooks/blobs?functionName=Host.Functions.ScanDropped&code=$key" \
  --included-event-types Microsoft.Storage.BlobCreated --subject-begins-with /blobServices/default/containers/scans/blobs/incoming/ \
  --output none
az eventgrid system-topic event-subscription create -g "$AZURE_RESOURCE_GROUP" --system-topic-name "$topic" -n scans-labels \
  --endpoint "$AZURE_FUNCTION_APP_URL/runtime/webhooks/blobs?functionName=Host.Functions.LabelDropped&code=$key" \
  --included-event-types Microsoft.Storage.BlobCreated --subject-begins-with /blobServices/default/containers/scans/blobs/labels/ \
  --output none
echo "drop zone subscribed: scans/incoming/<project>/ and scans/labels/<project>/ -> $AZURE_FUNCTION_APP_NAME"
