//! The nginx gateway configuration, rendered from
//! `deploy/nginx/gateway.conf.template` for the stack's regions and for the
//! bench's ceiling, so that both run the very configuration deployed.

use std::path::{Path, PathBuf};

use crate::edge::{Edge, TlsFiles};
use crate::path_str;
use crate::process::StackError;

/// What the template leaves open: where this gateway listens, where its
/// upstreams are, and where its files go.
#[derive(Debug)]
pub(crate) struct GatewayConf<'a> {
    pub(crate) region: &'a str,
    pub(crate) listen_port: u16,
    /// HTTPS, same routes.
    pub(crate) tls_port: u16,
    /// nginx's `stub_status`, on loopback, for the metrics exporter.
    pub(crate) status_port: u16,
    pub(crate) tls: &'a TlsFiles,
    pub(crate) edge: &'a Edge,
    pub(crate) auth_port: u16,
    pub(crate) writer_port: u16,
    /// The `server ..;` lines of the reader upstream.
    pub(crate) reader_servers: &'a str,
    pub(crate) docs_dir: &'a Path,
    /// The folder of `gateway.js` (the checkout's `deploy/nginx`).
    pub(crate) script_dir: &'a Path,
    pub(crate) pid_file: &'a Path,
    pub(crate) log_dir: &'a Path,
    pub(crate) temp_dir: &'a Path,
}

impl GatewayConf<'_> {
    /// The template of the checkout at `root`.
    pub(crate) fn template(root: &Path) -> Result<String, StackError> {
        let path: PathBuf = root.join("deploy/nginx/gateway.conf.template");
        std::fs::read_to_string(&path).map_err(|e| StackError::io(&path, e))
    }

    /// `template` with every placeholder filled in.
    pub(crate) fn render(&self, template: &str) -> String {
        template
            .replace("{{REGION}}", self.region)
            .replace("{{LISTEN_PORT}}", &self.listen_port.to_string())
            .replace("{{AUTH_ADDR}}", &format!("127.0.0.1:{}", self.auth_port))
            .replace(
                "{{WRITER_ADDR}}",
                &format!("127.0.0.1:{}", self.writer_port),
            )
            .replace("{{READER_SERVERS}}", self.reader_servers)
            .replace("{{DOCS_DIR}}", &path_str(self.docs_dir))
            .replace("{{PID_FILE}}", &path_str(self.pid_file))
            .replace("{{LOG_DIR}}", &path_str(self.log_dir))
            .replace("{{TEMP_DIR}}", &path_str(self.temp_dir))
            .replace("{{TLS_LISTEN}}", &self.tls_port.to_string())
            .replace("{{TLS_CERT}}", &path_str(&self.tls.server_cert))
            .replace("{{TLS_KEY}}", &path_str(&self.tls.server_key))
            .replace(
                "{{STATUS_LISTEN}}",
                &format!("127.0.0.1:{}", self.status_port),
            )
            .replace("{{SCRIPT_DIR}}", &path_str(self.script_dir))
            .replace("{{CORS_ORIGINS}}", &self.edge.cors_map_lines())
            .replace("{{REAL_IP_FROM}}", &self.edge.real_ip_lines())
            .replace("{{LOGIN_RATE}}", &self.edge.login.rate)
            .replace("{{LOGIN_BURST}}", &self.edge.login.burst.to_string())
            .replace("{{WRITE_RATE}}", &self.edge.write.rate)
            .replace("{{WRITE_BURST}}", &self.edge.write.burst.to_string())
            .replace("{{SEARCH_RATE}}", &self.edge.search.rate)
            .replace("{{SEARCH_BURST}}", &self.edge.search.burst.to_string())
            .replace("{{SEARCH_ALL_RATE}}", &self.edge.search_all.rate)
            .replace(
                "{{SEARCH_ALL_BURST}}",
                &self.edge.search_all.burst.to_string(),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::{Edge, TlsFiles};

    #[test]
    fn rendering_the_template_fills_every_placeholder() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = Path::new("/srv/x");
        let tls = TlsFiles {
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("gateway.pem"),
            server_key: dir.join("gateway-key.pem"),
        };
        let conf = GatewayConf {
            region: "eu",
            listen_port: 1,
            tls_port: 2,
            status_port: 3,
            tls: &tls,
            edge: &Edge::default(),
            auth_port: 4,
            writer_port: 5,
            reader_servers: "server 127.0.0.1:6;",
            docs_dir: dir,
            script_dir: dir,
            pid_file: dir,
            log_dir: dir,
            temp_dir: dir,
        }
        .render(&GatewayConf::template(&root).expect("template"));
        assert!(!conf.contains("{{"), "a placeholder is left");
        assert!(conf.contains(r#""~^http://127\.0\.0\.1(:[0-9]+)?$" $http_origin;"#));
    }
}
