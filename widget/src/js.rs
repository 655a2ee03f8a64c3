//! Reading and writing plain JS objects (the browser's `JSON` does the
//! parsing, so no serde_json in the wasm: about 30 KB gzip saved).

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;

pub fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &key.into(), value);
}

pub fn get(source: &JsValue, key: &str) -> JsValue {
    Reflect::get(source, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The strings of a JS array; empty for anything else.
pub fn strings(value: &JsValue) -> Vec<String> {
    if !Array::is_array(value) {
        return Vec::new();
    }
    Array::from(value)
        .iter()
        .filter_map(|v| v.as_string())
        .collect()
}

/// A JS array of `items`.
pub fn string_array(items: &[String]) -> Array {
    let array = Array::new();
    for item in items {
        array.push(&item.as_str().into());
    }
    array
}
