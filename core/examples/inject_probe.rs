//! Prints the injection report for each argument, or with `--jsonl FILE` the score of every
//! line's `text` field (for eyeballing a corpus).
fn main() {
    let d = sluice_core::InjectionDetector::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, path] = args.as_slice()
        && flag == "--jsonl"
    {
        let raw = std::fs::read_to_string(path).unwrap_or_default();
        for line in raw.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            let text = v.get("text").and_then(|t| t.as_str()).unwrap_or_default();
            let r = d.analyze(text);
            let names: Vec<&str> = r.signals.iter().map(|s| s.name).collect();
            println!(
                "{:.2} {} {names:?}",
                r.score,
                v.get("label").unwrap_or(&serde_json::Value::Null)
            );
        }
        return;
    }
    for arg in &args {
        let r = d.analyze(arg);
        println!("{:.2} {:?}", r.score, r.signals);
    }
}
