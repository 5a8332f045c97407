//! The rules for text fields. Each rule is both the parser the handlers use
//! and the JSON Schema the OpenAPI document shows, so the document says
//! exactly what the server takes: the character sets are explicit (not
//! "whitespace" or "control" as one regex dialect or another defines them)
//! and lengths count Unicode scalar values, as JSON Schema's `maxLength` does.

use utoipa::openapi::{
    schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type},
    RefOr, Schema,
};

/// C0 and C1 control characters and DEL, as a regex character-class body.
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";

fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Blank characters trimmed from multi-line text: space, tab, CR and LF.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// A string schema; with `nullable`, `null` is accepted too (an optional
/// body field where `null` means "unchanged" or "none").
pub fn string_schema(nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One line: no control characters; at least one character that is not
    /// a space; stored without leading and trailing spaces.
    Line,
    /// A label: a line without commas (tags travel comma-separated).
    Label,
    /// Free text: any characters but U+0000; stored without leading and
    /// trailing blanks. When required, at least one non-blank character.
    Text,
}

/// A text rule: its kind, whether it must hold something, and its maximum
/// length in characters (counted before trimming).
#[derive(Debug, Clone, Copy)]
pub struct TextRule {
    kind: Kind,
    required: bool,
    max: usize,
}

/// A required single line of at most `max` characters (a name).
pub const fn line(max: usize) -> TextRule {
    TextRule {
        kind: Kind::Line,
        required: true,
        max,
    }
}

/// A required label of at most `max` characters: a line without commas.
pub const fn label(max: usize) -> TextRule {
    TextRule {
        kind: Kind::Label,
        required: true,
        max,
    }
}

/// Free text of at most `max` characters; may be empty.
pub const fn text(max: usize) -> TextRule {
    TextRule {
        kind: Kind::Text,
        required: false,
        max,
    }
}

/// Free text of at most `max` characters with at least one non-blank one.
pub const fn required_text(max: usize) -> TextRule {
    TextRule {
        kind: Kind::Text,
        required: true,
        max,
    }
}

impl TextRule {
    /// The value to store, or a message for the field's error.
    pub fn parse(&self, raw: &str) -> Result<String, String> {
        if raw.chars().count() > self.max {
            return Err(format!("must be at most {} characters", self.max));
        }
        let stored = match self.kind {
            Kind::Line | Kind::Label => {
                if raw.chars().any(is_control) {
                    return Err("must not contain control characters (tabs, line breaks…)".into());
                }
                if self.kind == Kind::Label && raw.contains(',') {
                    return Err("must not contain commas".into());
                }
                raw.trim_matches(' ')
            }
            Kind::Text => {
                if raw.contains('\u{0}') {
                    return Err("must not contain the character U+0000".into());
                }
                raw.trim_matches(is_blank)
            }
        };
        if self.required && stored.is_empty() {
            return Err(if self.kind == Kind::Text {
                "must not be empty or only blanks".into()
            } else {
                "must not be empty or only spaces".into()
            });
        }
        Ok(stored.to_owned())
    }

    /// The regular expression (ECMA 262 and Python alike) the rule is.
    pub fn pattern(&self) -> String {
        let (allowed, filled) = match self.kind {
            Kind::Line => (format!("[^{CONTROL}]"), format!("[^{CONTROL} ]")),
            Kind::Label => (format!("[^{CONTROL},]"), format!("[^{CONTROL}, ]")),
            Kind::Text => (r"[^\x00]".to_owned(), r"[^\x00 \t\n\r]".to_owned()),
        };
        if self.required {
            format!("^{allowed}*{filled}{allowed}*$")
        } else {
            format!("^{allowed}*$")
        }
    }

    fn builder(&self, nullable: bool) -> ObjectBuilder {
        string_schema(nullable)
            .min_length(self.required.then_some(1))
            .max_length(Some(self.max))
            .pattern(Some(self.pattern()))
    }

    /// The field's schema.
    pub fn schema(&self, description: &str) -> RefOr<Schema> {
        self.builder(false)
            .description(Some(description))
            .build()
            .into()
    }

    /// The field's schema when `null` is also accepted (meaning "unchanged").
    pub fn nullable_schema(&self, description: &str) -> RefOr<Schema> {
        self.builder(true)
            .description(Some(description))
            .build()
            .into()
    }

    /// An array of at most `max_items` values of this rule.
    pub fn list_schema(
        &self,
        max_items: usize,
        nullable: bool,
        description: &str,
    ) -> RefOr<Schema> {
        let ty = if nullable {
            SchemaType::from_iter([Type::Array, Type::Null])
        } else {
            SchemaType::new(Type::Array)
        };
        ArrayBuilder::new()
            .schema_type(ty)
            .items(self.builder(false))
            .max_items(Some(max_items))
            .description(Some(description))
            .build()
            .into()
    }

    /// Each entry checked, duplicates dropped (after `normalise`), order kept.
    pub fn parse_list(
        &self,
        items: Vec<String>,
        max_items: usize,
        normalise: fn(String) -> String,
    ) -> Result<Vec<String>, String> {
        if items.len() > max_items {
            return Err(format!("at most {max_items} entries"));
        }
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for item in items {
            let item = normalise(self.parse(&item).map_err(|e| format!("each entry {e}"))?);
            if !out.contains(&item) {
                out.push(item);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_trimmed_of_spaces_and_needs_a_character() {
        let r = line(5);
        assert_eq!(r.parse("  ab ").as_deref(), Ok("ab"));
        assert!(r.parse("   ").is_err());
        assert!(r.parse("").is_err());
        assert!(r.parse("a\tb").is_err());
        assert!(r.parse("a\u{85}").is_err());
        assert!(r.parse("abcdef").is_err());
        // Non-breaking space is a character like any other: the pattern says so.
        assert_eq!(r.parse("\u{a0}").as_deref(), Ok("\u{a0}"));
        assert_eq!(
            r.pattern(),
            r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f ][^\x00-\x1f\x7f-\x9f]*$"
        );
    }

    #[test]
    fn a_label_has_no_commas() {
        assert!(label(40).parse("a,b").is_err());
        assert_eq!(label(40).parse(" rust ").as_deref(), Ok("rust"));
    }

    #[test]
    fn text_takes_anything_but_nul() {
        assert_eq!(text(10).parse("").as_deref(), Ok(""));
        assert_eq!(text(10).parse(" a\n\tb \n").as_deref(), Ok("a\n\tb"));
        assert!(text(10).parse("a\u{0}").is_err());
        assert!(required_text(10).parse(" \n").is_err());
        assert_eq!(text(10).pattern(), r"^[^\x00]*$");
    }

    #[test]
    fn lists_drop_duplicates_after_normalising() {
        let got = label(10).parse_list(vec!["A".into(), " a".into(), "b".into()], 3, |s| {
            s.to_lowercase()
        });
        assert_eq!(got, Ok(vec!["a".to_owned(), "b".to_owned()]));
        assert!(label(10).parse_list(vec!["a".into(); 4], 3, |s| s).is_err());
    }
}
