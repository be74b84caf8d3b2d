//! Text from records and from hosts (error messages, versions, log lines) on its way to a
//! terminal: control characters are shown escaped, never sent raw, so a hostile record or a
//! host's output cannot move the cursor, retitle the window or hide text.

/// `s` with every control character except newline and tab (C0, DEL, C1) and every bidi
/// override/isolate written as `\u{…}`.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_drives_a_terminal() {
        assert_eq!(printable("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(
            printable("a\u{1b}[2Jb\u{7}\r\u{9b}c\u{202e}"),
            "a\\u{1b}[2Jb\\u{7}\\u{d}\\u{9b}c\\u{202e}"
        );
        assert!(matches!(printable("ok"), std::borrow::Cow::Borrowed(_)));
    }
}
