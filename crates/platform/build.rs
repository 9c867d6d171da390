//! The schema migrations are embedded at compile time (`db::migrate`): a
//! new or changed file in `migrations/` must rebuild this crate.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
