//! Browser entry point: hydrates the server-rendered dashboard (`app::App`).

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the script that cargo-leptos generates once `talon.wasm` is loaded.
/// Attaches event handlers and reactivity to the HTML the server already sent.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
