"""The MCP tools, grouped by theme; each declared once, with its work, where it is written."""
