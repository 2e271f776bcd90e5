//! Reading dataset files: parquet (as Hugging Face publishes it), a JSON list, or JSONL.
//!
//! Every format is normalised to JSON objects first, so one code path validates rows:
//! null columns count as absent, and `FAIL_TO_PASS` / `PASS_TO_PASS` may be JSON-encoded
//! strings or real arrays.

use std::collections::HashSet;
use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use serde_json::{Map, Value};

use super::{DatasetError, Instance};

/// Load every instance from `path`, choosing the format by extension.
///
/// Row order is kept. Duplicate instance ids are an error.
pub fn load_dataset(path: &Path) -> Result<Vec<Instance>, DatasetError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let rows = if name.ends_with(".parquet") {
        parquet_rows(path)?
    } else if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        let text = read_text(path)?;
        jsonl_rows(path, &text)?
    } else if name.ends_with(".json") {
        let text = read_text(path)?;
        json_rows(path, &text)?
    } else {
        return Err(DatasetError::UnknownFormat {
            path: path.to_path_buf(),
        });
    };
    let instances = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| instance_from_object(path, i, row))
        .collect::<Result<Vec<_>, _>>()?;
    check_unique(path, &instances)?;
    Ok(instances)
}

/// Parse JSON or JSONL text (already read) into instances; `origin` names it in errors.
pub fn parse_json_rows(origin: &Path, text: &str) -> Result<Vec<Instance>, DatasetError> {
    let rows = if text.trim_start().starts_with('[') {
        json_rows(origin, text)?
    } else {
        jsonl_rows(origin, text)?
    };
    let instances = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| instance_from_object(origin, i, row))
        .collect::<Result<Vec<_>, _>>()?;
    check_unique(origin, &instances)?;
    Ok(instances)
}

fn read_text(path: &Path) -> Result<String, DatasetError> {
    let bytes = fs_err::read(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| DatasetError::Row {
        path: path.to_path_buf(),
        row: 0,
        message: format!("file is not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
    })
}

fn check_unique(path: &Path, instances: &[Instance]) -> Result<(), DatasetError> {
    let mut seen = HashSet::new();
    for inst in instances {
        if !seen.insert(inst.instance_id.as_str()) {
            return Err(DatasetError::Duplicate {
                path: path.to_path_buf(),
                id: inst.instance_id.clone(),
            });
        }
    }
    Ok(())
}

fn json_rows(path: &Path, text: &str) -> Result<Vec<Map<String, Value>>, DatasetError> {
    let value: Value = serde_json::from_str(text).map_err(|e| DatasetError::Row {
        path: path.to_path_buf(),
        row: 0,
        message: format!("invalid JSON: {e}"),
    })?;
    let Value::Array(items) = value else {
        return Err(DatasetError::Row {
            path: path.to_path_buf(),
            row: 0,
            message: "expected a JSON list of instance objects".into(),
        });
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(m) => Ok(m),
            _ => Err(DatasetError::Row {
                path: path.to_path_buf(),
                row: i + 1,
                message: "not a JSON object".into(),
            }),
        })
        .collect()
}

fn jsonl_rows(path: &Path, text: &str) -> Result<Vec<Map<String, Value>>, DatasetError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| DatasetError::Row {
            path: path.to_path_buf(),
            row: i + 1,
            message: format!("line {}: invalid JSON: {e}", i + 1),
        })?;
        match v {
            Value::Object(m) => rows.push(m),
            _ => {
                return Err(DatasetError::Row {
                    path: path.to_path_buf(),
                    row: i + 1,
                    message: format!("line {}: not a JSON object", i + 1),
                });
            }
        }
    }
    Ok(rows)
}

fn parquet_rows(path: &Path) -> Result<Vec<Map<String, Value>>, DatasetError> {
    let file = fs_err::File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = SerializedFileReader::new(file.into_parts().0).map_err(|source| DatasetError::Parquet {
        path: path.to_path_buf(),
        source,
    })?;
    let iter = reader.get_row_iter(None).map_err(|source| DatasetError::Parquet {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rows = Vec::new();
    for (i, row) in iter.enumerate() {
        let row = row.map_err(|source| DatasetError::Parquet {
            path: path.to_path_buf(),
            source,
        })?;
        let mut obj = Map::new();
        for (name, field) in row.get_column_iter() {
            obj.insert(
                name.clone(),
                field_to_json(field).map_err(|message| DatasetError::Row {
                    path: path.to_path_buf(),
                    row: i + 1,
                    message: format!("column {name}: {message}"),
                })?,
            );
        }
        rows.push(obj);
    }
    Ok(rows)
}

fn field_to_json(field: &Field) -> Result<Value, String> {
    Ok(match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Str(s) => Value::String(s.clone()),
        Field::Bytes(b) => Value::String(
            std::str::from_utf8(b.data())
                .map_err(|_| "binary value is not UTF-8".to_string())?
                .to_owned(),
        ),
        Field::ListInternal(list) => Value::Array(list.elements().iter().map(field_to_json).collect::<Result<_, _>>()?),
        Field::Byte(n) => Value::from(*n),
        Field::Short(n) => Value::from(*n),
        Field::Int(n) => Value::from(*n),
        Field::Long(n) => Value::from(*n),
        Field::UByte(n) => Value::from(*n),
        Field::UShort(n) => Value::from(*n),
        Field::UInt(n) => Value::from(*n),
        Field::ULong(n) => Value::from(*n),
        Field::Float(x) => Value::from(f64::from(*x)),
        Field::Double(x) => Value::from(*x),
        other => Value::String(other.to_string()),
    })
}

/// Validate one row object and turn it into an [`Instance`].
fn instance_from_object(path: &Path, index: usize, mut obj: Map<String, Value>) -> Result<Instance, DatasetError> {
    let row = index + 1;
    let err = |message: String| DatasetError::Row {
        path: path.to_path_buf(),
        row,
        message,
    };
    obj.retain(|_, v| !v.is_null());
    let id = obj.get("instance_id").and_then(Value::as_str).map(str::to_owned);
    let label = id.clone().unwrap_or_else(|| format!("row {row}"));
    for key in ["FAIL_TO_PASS", "PASS_TO_PASS"] {
        match obj.get(key) {
            Some(Value::String(s)) => {
                let parsed: Value = serde_json::from_str(s)
                    .map_err(|e| err(format!("{label}: {key} is not a JSON-encoded list: {e}")))?;
                if !parsed.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                    return Err(err(format!("{label}: {key} must be a list of strings")));
                }
                obj.insert(key.to_owned(), parsed);
            }
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
            Some(_) => return Err(err(format!("{label}: {key} must be a list of strings"))),
            None => return Err(err(format!("{label}: missing column {key}"))),
        }
    }
    let inst: Instance = serde_json::from_value(Value::Object(obj)).map_err(|e| err(format!("{label}: {e}")))?;
    if inst.instance_id.trim().is_empty() {
        return Err(err("empty instance_id".into()));
    }
    Ok(inst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<Vec<Instance>, DatasetError> {
        parse_json_rows(Path::new("t.jsonl"), text)
    }

    #[test]
    fn accepts_encoded_and_real_lists() {
        let a = one(r#"{"instance_id":"a__b-1","repo":"a/b","base_commit":"x","FAIL_TO_PASS":"[\"t1\"]","PASS_TO_PASS":["t2","t3"]}"#).unwrap();
        assert_eq!(a[0].fail_to_pass, vec!["t1"]);
        assert_eq!(a[0].pass_to_pass, vec!["t2", "t3"]);
        assert_eq!(a[0].eval_script, None);
    }

    #[test]
    fn errors_name_the_row_and_field() {
        let e = one(
            "{\"instance_id\":\"x\",\"repo\":\"r\",\"base_commit\":\"c\",\"FAIL_TO_PASS\":\"[\",\"PASS_TO_PASS\":[]}",
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("row 1") && msg.contains("x: FAIL_TO_PASS"), "{msg}");
        let e = one("{\"instance_id\":\"x\"}\nnot json").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = one("{\"instance_id\":\"x\",\"repo\":\"r\",\"base_commit\":\"c\",\"PASS_TO_PASS\":[]}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing column FAIL_TO_PASS"), "{e}");
    }

    #[test]
    fn duplicates_are_errors() {
        let row = r#"{"instance_id":"a","repo":"r","base_commit":"c","FAIL_TO_PASS":[],"PASS_TO_PASS":[]}"#;
        let e = one(&format!("{row}\n{row}")).unwrap_err().to_string();
        assert!(e.contains("duplicate instance id a"), "{e}");
    }
}
