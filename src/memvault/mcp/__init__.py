"""The MCP server: the ``memory_*`` tools over stdio and streamable HTTP.

Kept empty of imports: ``memvault mcp`` answers its handshake before the SDK loads.
"""
