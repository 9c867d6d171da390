vcl 4.1;
# A Varnish in front of one region's gateway, purged by surrogate key
# (vmod_xkey, Debian's varnish-modules) from that region's change feed by
# deploy/cdn/purge-from-feed.sh. An example: the gateway's own
# Cache-Control (max-age, stale-while-revalidate, stale-if-error) decides
# how long answers are kept; a purge only ends them sooner.

import xkey;

backend gateway {
    .host = "127.0.0.1";
    .port = "8000";
}

acl purgers {
    "127.0.0.1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (req.http.xkey-purge ~ "(^| )\*( |$)") {
            # A feed reset: everything.
            ban("obj.status != 0");
            return (synth(200, "Banned"));
        }
        set req.http.n-gone = xkey.purge(req.http.xkey-purge);
        return (synth(200, "Purged " + req.http.n-gone));
    }
    # Only public reads are cached; a read carrying a consistency token
    # is answered by the region itself (read-your-writes).
    if (req.url !~ "^/content" || req.http.X-Consistency-Token) {
        return (pass);
    }
}

sub vcl_backend_response {
    # vmod_xkey indexes objects by the space-separated keys of `xkey`.
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }
}
