//! Placeholder for the desktop app: the Tauri shell, tray and UI arrive with the desktop issue.
//! Until then it points at the CLI, which has every operation.

fn main() {
    println!(
        "Berth {}: the desktop app is not built yet.",
        berth_core::VERSION
    );
    println!("Every operation is available from the CLI: `berth --help`.");
}
