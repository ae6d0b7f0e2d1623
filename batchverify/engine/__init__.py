"""The job engine: plan, send under the rate gate, checkpoint, write. Knows nothing of terminals."""
