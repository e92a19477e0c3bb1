//! Validates znodes against `zk-schema/`, using the path table of `zk-schema/README.md` (the same
//! file the Python tests read), so the mapping has one source.

use std::path::PathBuf;

use serde_json::Value;
use zookeeper_client::Client;

struct Row {
    pattern: Vec<String>,
    encoding: String,
    schema: String,
}

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("zk-schema")
}

/// Rows of the README's `| `pattern` | kind | encoding | `schema` |` table.
fn rows() -> Vec<Row> {
    let readme =
        std::fs::read_to_string(schema_dir().join("README.md")).expect("read zk-schema/README.md");
    readme
        .lines()
        .filter(|l| l.starts_with("| `/"))
        .map(|l| {
            let cells: Vec<&str> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`'))
                .collect();
            assert_eq!(cells.len(), 4, "bad row in zk-schema/README.md: {l}");
            Row {
                pattern: cells[0].split('/').skip(1).map(str::to_string).collect(),
                encoding: cells[2].to_string(),
                schema: cells[3].to_string(),
            }
        })
        .collect()
}

fn segment_matches(pattern: &str, segment: &str) -> bool {
    match pattern.find('<') {
        Some(i) => segment.len() > i && segment.starts_with(&pattern[..i]),
        None => pattern == segment,
    }
}

/// The schema file name and encoding for a chroot-relative path; `None` if it is not in the table.
pub fn schema_for(path: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let matching: Vec<Row> = rows()
        .into_iter()
        .filter(|r| {
            r.pattern.len() == segments.len()
                && r.pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| segment_matches(p, s))
        })
        .collect();
    assert!(
        matching.len() <= 1,
        "overlapping patterns for {path} in zk-schema/README.md"
    );
    matching.into_iter().next().map(|r| (r.schema, r.encoding))
}

/// Validates one znode's data against its schema; panics with the path and the errors.
pub fn validate_znode(path: &str, data: &[u8]) {
    let (schema_file, encoding) =
        schema_for(path).unwrap_or_else(|| panic!("{path} is not in zk-schema/README.md"));
    let text = std::str::from_utf8(data).unwrap_or_else(|_| panic!("{path}: data is not UTF-8"));
    let instance = match encoding.as_str() {
        "text" => Value::String(text.to_string()),
        "json-or-empty" if data.is_empty() => return,
        "json" | "json-or-empty" => {
            assert!(
                !text.ends_with('\n') && !text.contains(": ") && !text.contains(", "),
                "{path}: JSON not compact: {text}"
            );
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
        }
        other => panic!("unknown encoding {other} in zk-schema/README.md"),
    };
    let schema_text =
        std::fs::read_to_string(schema_dir().join(&schema_file)).expect("read schema");
    let schema: Value = serde_json::from_str(&schema_text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{schema_file} is not a valid schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{path} does not match {schema_file}: {errors:?}\ndata: {text}"
    );
}

/// Walks the whole tree under the client's root (skipping `/zookeeper`) and validates every znode.
/// Returns how many were checked.
pub async fn validate_tree(client: &Client) -> usize {
    let mut stack = vec!["/".to_string()];
    let mut checked = 0;
    while let Some(path) = stack.pop() {
        let children = match client.list_children(&path).await {
            Ok(children) => children,
            Err(zookeeper_client::Error::NoNode) => continue,
            Err(e) => panic!("list {path}: {e}"),
        };
        for child in children {
            let child_path = if path == "/" {
                format!("/{child}")
            } else {
                format!("{path}/{child}")
            };
            if child_path == "/zookeeper" {
                continue;
            }
            match client.get_data(&child_path).await {
                Ok((data, _)) => {
                    validate_znode(&child_path, &data);
                    checked += 1;
                }
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => panic!("read {child_path}: {e}"),
            }
            stack.push(child_path);
        }
    }
    checked
}
