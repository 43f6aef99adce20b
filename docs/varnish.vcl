vcl 4.1;
# Varnish in front of self-hosted Next.js with shared-isr: caches what Next marks cacheable and
# drops it by cache tag when shared-isr revalidates. Needs Varnish >= 6 and the xkey vmod
# (varnish-modules; Debian/Ubuntu: apt-get install varnish varnish-modules).
#
#   Next's responses carry their cache tags in an `xkey` response header (space-separated);
#   on revalidateTag/revalidatePath shared-isr sends every Varnish node
#     PURGE / HTTP/1.1
#     xkey: <tag> <tag> ...
#   (add `xkey-softpurge: 1` to serve the old copy once more while Varnish refetches).
#   Answers: 200 "Invalidated N objects" (N also in the `xkey-purged` header), 400 without an
#   xkey header, 403 from an address outside the `purgers` ACL.
#
# Start it with: varnishd -f /etc/varnish/varnish.vcl -a :6081 -s malloc,256m

import xkey;

# The load balancer in front of the `next start` instances (or a single instance).
backend default {
    .host = "127.0.0.1";
    .port = "3000";
}

# Who may PURGE: list the app servers here (every host that runs the shared-isr handler).
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.xkey) {
            return (synth(400, "Missing xkey header"));
        }
        if (req.http.xkey-softpurge) {
            set req.http.xkey-purged = xkey.softpurge(req.http.xkey);
        } else {
            set req.http.xkey-purged = xkey.purge(req.http.xkey);
        }
        return (synth(200, "Invalidated " + req.http.xkey-purged + " objects"));
    }
    # Everything else: Varnish's built-in rules (GET/HEAD only; requests with a Cookie or
    # Authorization header go to Next uncached).
}

sub vcl_hash {
    # An App Router URL answers HTML, or the RSC payload of a navigation or (segment)
    # prefetch, depending on these request headers. Next lists them in `Vary` (Varnish honours
    # it and keeps one variant per value, Next-Router-State-Tree included); hashing them as well
    # keeps HTML and RSC apart even for a response that lacks the Vary header.
    if (req.http.RSC) {
        hash_data("rsc:" + req.http.RSC);
    }
    if (req.http.Next-Router-Prefetch) {
        hash_data("prefetch:" + req.http.Next-Router-Prefetch);
    }
    if (req.http.Next-Router-Segment-Prefetch) {
        hash_data("segment:" + req.http.Next-Router-Segment-Prefetch);
    }
    # Then the built-in hash: URL and Host.
}

sub vcl_backend_response {
    # A cacheable response without tags: a Pages Router page or its /_next/data JSON (Next does
    # not send a Pages entry's stored headers). Tag it with its path as Next's implicit tag
    # (`_N_T_/shop/sticker`), which shared-isr purges when that page is written anew
    # (res.revalidate, a regeneration) and on revalidatePath. `/` is Next's `/index`.
    if (!beresp.http.xkey && beresp.ttl > 0s) {
        set beresp.http.xkey = "sisr-all _N_T_" + regsub(regsub(regsub(bereq.url, "\?.*$", ""), "^/_next/data/[^/]+(/.*)\.json$", "\1"), "^/$", "/index");
    }
    # Next's ISR pages send `Cache-Control: s-maxage=N, stale-while-revalidate=M` (M up to a
    # year): the TTL comes from s-maxage (the built-in rules), but Varnish would also take M as
    # grace and serve an expired or soft-purged copy for that long. Next already serves stale
    # while it regenerates, so Varnish keeps only a few seconds of grace of its own.
    if (beresp.grace > 5s) {
        set beresp.grace = 5s;
    }
}

sub vcl_synth {
    if (req.method == "PURGE" && resp.status == 200) {
        set resp.http.xkey-purged = req.http.xkey-purged;
        set resp.http.Content-Type = "text/plain; charset=utf-8";
        set resp.body = resp.reason + {"
"};
        return (deliver);
    }
}

sub vcl_deliver {
    # Observability: HIT (from cache, also within grace), MISS (fetched and cached), PASS (not
    # cacheable). Age stays as Varnish sets it.
    if (obj.uncacheable) {
        set resp.http.X-Cache = "PASS";
    } else if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    # The tags are for Varnish only; clients need not see them.
    unset resp.http.xkey;
}
