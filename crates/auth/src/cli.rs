//! The `auth` command line: serving, and the operator commands that need
//! the same settings (migrations, the first admin, signing keys).

use std::path::PathBuf;

/// What to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve,
    Migrate,
    CreateAdmin {
        email: String,
        name: String,
        password_file: Option<PathBuf>,
    },
    GenKey {
        out: PathBuf,
    },
    Help,
}

/// Parsed arguments: the command and the optional `--config` file.
#[derive(Debug, PartialEq, Eq)]
pub struct Args {
    pub config: Option<PathBuf>,
    pub command: Command,
}

pub const USAGE: &str = "\
usage: auth [--config PATH] [COMMAND]

commands:
  serve                          run the service (default)
  migrate                        apply database migrations
  create-admin --email E --name N [--password-file F]
                                 create an admin; prints a generated password
                                 unless one is given in F
  gen-key --out PATH             write a new Ed25519 signing key (PKCS#8 PEM)

settings: defaults, then the TOML file (--config or RCR_CONFIG), then
RCR__SECTION__KEY environment variables (see README).";

/// Parses `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut config = None;
    let mut rest = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config = Some(PathBuf::from(args.next().ok_or("--config needs a path")?)),
            "-h" | "--help" => {
                return Ok(Args {
                    config,
                    command: Command::Help,
                });
            }
            _ => rest.push(arg),
        }
    }
    let mut rest = rest.into_iter();
    let command = match rest.next().as_deref() {
        None | Some("serve") => Command::Serve,
        Some("migrate") => Command::Migrate,
        Some("create-admin") => {
            let (mut email, mut name, mut password_file) = (None, None, None);
            while let Some(flag) = rest.next() {
                let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
                match flag.as_str() {
                    "--email" => email = Some(value),
                    "--name" => name = Some(value),
                    "--password-file" => password_file = Some(PathBuf::from(value)),
                    other => return Err(format!("unknown option {other}")),
                }
            }
            Command::CreateAdmin {
                email: email.ok_or("create-admin needs --email")?,
                name: name.ok_or("create-admin needs --name")?,
                password_file,
            }
        }
        Some("gen-key") => match (rest.next().as_deref(), rest.next()) {
            (Some("--out"), Some(out)) => Command::GenKey {
                out: PathBuf::from(out),
            },
            _ => return Err("gen-key needs --out PATH".into()),
        },
        Some(other) => return Err(format!("unknown command {other}")),
    };
    if let Some(extra) = rest.next() {
        return Err(format!("unexpected argument {extra}"));
    }
    Ok(Args { config, command })
}

/// A random password for a new admin: 24 characters from an alphabet
/// without look-alikes (~140 bits).
pub fn generate_password() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..24)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        parse(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn no_command_means_serve() {
        assert_eq!(args("").map(|a| a.command), Ok(Command::Serve));
    }

    #[test]
    fn create_admin_takes_its_options_in_any_order() {
        let parsed = args("--config x.toml create-admin --name Ana --email a@b.co").expect("valid");
        assert_eq!(parsed.config, Some(PathBuf::from("x.toml")));
        assert_eq!(
            parsed.command,
            Command::CreateAdmin {
                email: "a@b.co".into(),
                name: "Ana".into(),
                password_file: None
            }
        );
    }

    #[test]
    fn unknown_commands_and_options_are_refused() {
        assert!(args("frobnicate").is_err());
        assert!(args("create-admin --email a@b.co --name A --bogus 1").is_err());
        assert!(args("gen-key").is_err());
    }

    #[test]
    fn generated_passwords_are_long_enough_for_the_policy() {
        let p = generate_password();
        assert!(domain::Password::parse(&p).is_ok());
    }
}
