fn main() {
    let d = sluice_core::InjectionDetector::new();
    for arg in std::env::args().skip(1) {
        let r = d.analyze(&arg);
        println!("{:.2} {:?}", r.score, r.signals);
        let n = sluice_core::inject::normalize::normalize(&arg);
        println!("view: {:?}", n.view.text());
    }
}
