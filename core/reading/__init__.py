"""Reading: how a comment, a photo and a collection file become tokens per modality.

Shared by serving (a visitor's query) and building (a collection's documents), so that both read
alike; its ``collection.Document`` is the one record of a document everywhere. It imports nothing
else of ``core`` but the base modules.
"""
