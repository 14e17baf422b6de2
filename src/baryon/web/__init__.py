"""The portal: server-rendered pages for people, on the same ASGI app and port as the API.

Pages read through the store and change things through the same domain functions the API
operations call, so a deployment started here is exactly the one ``aws proton`` would start;
like the API, a page never talks to a cloud (ARCHITECTURE rule 3).
"""
