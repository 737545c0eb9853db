"""What people use: the CLI's commands, the HTTP API, the codec server, the demo."""
