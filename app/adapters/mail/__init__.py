"""Mail: rendering messages from templates and handing them to an SMTP server."""
