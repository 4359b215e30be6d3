"""WebhookSender port: webhooks POSTed over HTTP with an address guard."""
