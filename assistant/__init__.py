"""Assistant: conversation, hybrid retrieval, extractive cited answers, and the CLI / web edges."""
