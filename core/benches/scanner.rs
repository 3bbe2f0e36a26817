use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let scanner = sluice_core::Scanner::new(&Default::default()).unwrap();
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(1000);
    c.bench_function("scan_prose", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            scanner.scan(&text, &mut out)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
