-- GET of one path (wrk's URL) asking for brotli, as browsers do.
wrk.headers["Accept-Encoding"] = "br"
