//! `cargo bench -p berth-core --bench certs`: time to generate a full certificate set
//! (CA + client + server, ECDSA P-256), the work docker-machine did with RSA-2048 keys.

use std::time::Instant;

use berth_core::certs;

fn main() {
    // The first call initialises aws-lc; report it separately.
    let t = Instant::now();
    let ca = certs::generate_ca().expect("ca");
    println!(
        "first CA (includes crypto init): {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let _ = ca;
    let mut runs: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            let ca = certs::generate_ca().expect("ca");
            certs::generate_client(&ca).expect("client");
            certs::generate_server(&ca, "bench", &["10.0.0.2".into(), "localhost".into()])
                .expect("server");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    runs.sort_by(|a, b| a.total_cmp(b));
    println!("cert set median: {:.2}", runs[runs.len() / 2]);
    println!("cert set p95: {:.2} ms", runs[runs.len() * 95 / 100]);
}
