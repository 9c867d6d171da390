// Checks the gateway makes with njs where nginx's own directives cannot
// reach: loaded by gateway.conf.template (`js_import`).

// What is wrong with a request head that nginx accepts but the services'
// HTTP parser refuses with a bare 4xx and no body (SPEC §10.2 wants
// problem+json): `count` for more header lines than it reads, `control` for
// a control character (other than tab) or DEL in a header value; '' when
// nothing is. One regular expression per value: a head holds a handful of
// short values.
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

// The services read at most 96 header lines; a browser sends about 20.
const MAX_HEADERS = 64;

function badHead(r) {
    const headers = r.rawHeadersIn;
    if (headers.length > MAX_HEADERS) {
        return 'count';
    }
    for (let i = 0; i < headers.length; i++) {
        if (CONTROL.test(headers[i][1])) {
            return 'control';
        }
    }
    return '';
}

export default { badHead };
