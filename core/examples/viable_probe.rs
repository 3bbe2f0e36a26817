fn main() {
    let mut o = sluice_core::DetectorOptions::default();
    for (name, email) in [("email on", true), ("email off", false)] {
        o.email = email;
        let s = sluice_core::Scanner::new(&o).unwrap();
        for t in [
            "The quick brown fox",
            "The quick brown fox ",
            "Hello wor",
            "key is AKI",
            "call +1 415 55",
            "we use tokens",
            "value abc123",
            "my pass",
            "db_password=hun",
            "It goes to",
            "account D",
        ] {
            println!("{name}: {t:?} -> {} of {}", s.viable_from(t), t.len());
        }
    }
}
