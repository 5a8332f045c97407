//! Files as run inputs: an input written `{"$file": "<id or name>"}` names a
//! ready file of the run's workspace. When the run starts it becomes the
//! file's description — `{"fileId", "name", "contentType", "size"}` — so
//! templates read `{{inputs.brief.name}}` and an agent's `read_file` tool
//! reads `{{inputs.brief.fileId}}`; a file that is not there (or not
//! uploaded yet) refuses the start, naming the input.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::{
    db::files::{self, FileRow},
    files::FileStatus,
    ApiError, ApiResult,
};

/// The key that marks a file input.
pub const FILE_KEY: &str = "$file";

/// The reference an input value makes, if it is a file input.
fn reference(value: &Value) -> Option<Result<&str, ()>> {
    let o = value.as_object()?;
    let r = o.get(FILE_KEY)?;
    Some(if o.len() == 1 {
        r.as_str().filter(|s| !s.trim().is_empty()).ok_or(())
    } else {
        Err(())
    })
}

fn describe(f: &FileRow) -> Value {
    json!({ "fileId": f.id, "name": f.name, "contentType": f.content_type, "size": f.size })
}

/// Replaces the file inputs among the top-level `inputs` by their files'
/// descriptions; 400 naming `inputs.<key>` when one names no ready file.
pub async fn resolve(
    db: &sqlx::PgPool,
    workspace_id: Uuid,
    inputs: &mut Map<String, Value>,
) -> ApiResult<()> {
    for (key, value) in inputs.iter_mut() {
        let Some(r) = reference(value) else { continue };
        let field = format!("inputs.{key}");
        let r = r.map_err(|()| {
            ApiError::field(
                &field,
                format!(
                    "a file input is {{\"{FILE_KEY}\": \"<file id or name>\"}} and nothing else"
                ),
            )
        })?;
        let found = match r.parse::<Uuid>() {
            Ok(id) => files::find(db, workspace_id, id).await?,
            Err(_) => files::find_ready_by_name(db, workspace_id, r).await?,
        };
        match found {
            Some(f) if f.status == FileStatus::Ready => *value = describe(&f),
            Some(_) => {
                return Err(ApiError::field(
                    &field,
                    format!(
                        "the file {r:?} is not uploaded yet (POST …/files/{{fileId}}/complete)"
                    ),
                ))
            }
            None => {
                return Err(ApiError::field(
                    &field,
                    format!("the workspace has no file {r:?}"),
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_inputs_are_recognised_and_nothing_else() {
        assert_eq!(reference(&json!({"$file": "a.md"})), Some(Ok("a.md")));
        assert_eq!(reference(&json!({"$file": "a.md", "x": 1})), Some(Err(())));
        assert_eq!(reference(&json!({"$file": 3})), Some(Err(())));
        assert_eq!(reference(&json!({"$file": " "})), Some(Err(())));
        assert_eq!(reference(&json!({"file": "a.md"})), None);
        assert_eq!(reference(&json!("a.md")), None);
    }
}
