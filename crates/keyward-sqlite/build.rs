fn main() {
    // sqlx::migrate! embeds the migrations at compile time; without this a new file is missed.
    println!("cargo:rerun-if-changed=migrations");
}
