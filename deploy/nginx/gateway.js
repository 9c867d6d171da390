// Checks the gateway makes with njs where nginx's own directives cannot
// reach: loaded by gateway.conf.template (`js_import`).

// Control characters (other than tab) and DEL in any header value. nginx
// passes them on, but the services' HTTP parser refuses such a request head
// with a bare 400 and no body; the gateway refuses it first, as
// problem+json (SPEC §10.2). One regular expression per header value: a
// request head holds a handful of short values.
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

function badHeaderBytes(r) {
    const headers = r.rawHeadersIn;
    for (let i = 0; i < headers.length; i++) {
        if (CONTROL.test(headers[i][1])) {
            return '1';
        }
    }
    return '';
}

export default { badHeaderBytes };
