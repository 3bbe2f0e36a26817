//! Prints the injection report and the normalised view for each argument.
fn main() {
    let t = std::time::Instant::now();
    let d = sluice_core::InjectionDetector::new();
    eprintln!("detector built in {:?}", t.elapsed());
    for arg in std::env::args().skip(1) {
        let t = std::time::Instant::now();
        let r = d.analyze(&arg);
        eprintln!("analyzed in {:?}", t.elapsed());
        println!("{:.2} {:?}", r.score, r.signals);
        let n = sluice_core::inject::normalize::normalize(&arg);
        println!("view: {:?}", n.view.text());
    }
}
