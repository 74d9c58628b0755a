"""Serving: what a web replica loads to answer: the numpy model, theta inference, the index,
ranking, annotation, explanations and the service the pages call.

It never imports building or measurement code, nor BigARTM.
"""
