"""The read side: store adapters behind one interface, the query router and the query API.

Reads only its own stores and read-model bookkeeping; never imports ``command_side``.
"""
