//! The part of Go's text/template that docker-machine users put in `ls --format` and
//! `inspect -f`: field paths (`{{.Driver.IPAddress}}`, by JSON key), `json`, `prettyjson`,
//! `upper`, `lower`, pipes (`{{.X | json}}`), `{{if .X}}…{{else}}…{{end}}`,
//! `{{range .List}}…{{end}}`, and string literals. Anything else is a parse error, reported
//! as docker-machine did: `template parsing error: …`.

use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipeline(Vec<Command>);

#[derive(Debug, Clone)]
enum Command {
    Field(Vec<String>),
    Literal(String),
    Func(String, Vec<Command>),
}

#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

fn parse_err(msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("template parsing error: {msg}"))
}

fn tokenize_action(src: &str) -> Result<Vec<String>> {
    let mut out = vec![];
    let mut chars = src.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::from("\"");
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(o) => s.push(o),
                        None => break,
                    }
                } else if c == '"' {
                    closed = true;
                    break;
                } else {
                    s.push(c);
                }
            }
            if !closed {
                return Err(parse_err("unterminated quoted string"));
            }
            out.push(s);
        } else if c == '|' {
            chars.next();
            out.push("|".into());
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '|' {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(w);
        }
    }
    Ok(out)
}

fn parse_operand(tok: &str) -> Result<Command> {
    if let Some(lit) = tok.strip_prefix('"') {
        return Ok(Command::Literal(lit.to_string()));
    }
    if tok == "." {
        return Ok(Command::Field(vec![]));
    }
    if let Some(path) = tok.strip_prefix('.') {
        let parts: Vec<String> = path.split('.').map(str::to_string).collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_alphanumeric() || c == '_'))
        {
            return Err(parse_err(format!("bad field path \"{tok}\"")));
        }
        return Ok(Command::Field(parts));
    }
    Err(parse_err(format!("unexpected \"{tok}\"")))
}

const FUNCS: [&str; 4] = ["json", "prettyjson", "upper", "lower"];

fn parse_pipeline(tokens: &[String]) -> Result<Pipeline> {
    let mut cmds = vec![];
    for segment in tokens.split(|t| t == "|") {
        if segment.is_empty() {
            return Err(parse_err("missing command in pipeline"));
        }
        let first = &segment[0];
        if FUNCS.contains(&first.as_str()) {
            let args = segment[1..]
                .iter()
                .map(|t| parse_operand(t))
                .collect::<Result<Vec<_>>>()?;
            cmds.push(Command::Func(first.clone(), args));
        } else if segment.len() == 1 {
            cmds.push(parse_operand(first)?);
        } else {
            return Err(parse_err(format!("function \"{first}\" not defined")));
        }
    }
    Ok(Pipeline(cmds))
}

enum Piece {
    Text(String),
    Action(Vec<String>),
}

fn lex(src: &str) -> Result<Vec<Piece>> {
    let mut pieces = vec![];
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| parse_err("unclosed action"))?;
        let inner = after[..end].trim_start_matches('-').trim_end_matches('-');
        pieces.push(Piece::Action(tokenize_action(inner)?));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

fn build(
    pieces: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
    in_block: bool,
) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = vec![];
    while let Some(p) = pieces.next() {
        match p {
            Piece::Text(t) => nodes.push(Node::Text(t)),
            Piece::Action(toks) if toks.is_empty() => {
                return Err(parse_err("missing value for command"));
            }
            Piece::Action(toks) => match toks[0].as_str() {
                "if" => {
                    let cond = parse_pipeline(&toks[1..])?;
                    let (then, stop) = build(pieces, true)?;
                    let otherwise = if stop.as_deref() == Some("else") {
                        build(pieces, true)?.0
                    } else {
                        vec![]
                    };
                    nodes.push(Node::If(cond, then, otherwise));
                }
                "range" => {
                    let list = parse_pipeline(&toks[1..])?;
                    let (body, stop) = build(pieces, true)?;
                    if stop.as_deref() != Some("end") {
                        return Err(parse_err("range without end"));
                    }
                    nodes.push(Node::Range(list, body));
                }
                "else" | "end" if in_block => return Ok((nodes, Some(toks[0].clone()))),
                "else" | "end" => return Err(parse_err(format!("unexpected {{{{{}}}}}", toks[0]))),
                _ => nodes.push(Node::Action(parse_pipeline(&toks)?)),
            },
        }
    }
    if in_block {
        return Err(parse_err("unexpected EOF: missing {{end}}"));
    }
    Ok((nodes, None))
}

impl Template {
    pub fn parse(src: &str) -> Result<Template> {
        let mut pieces = lex(src)?.into_iter().peekable();
        let (nodes, _) = build(&mut pieces, false)?;
        Ok(Template { nodes })
    }

    pub fn render(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        render_nodes(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

fn lookup<'a>(data: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut v = data;
    for p in path {
        v = v.get(p)?;
    }
    Some(v)
}

fn eval_command(c: &Command, data: &Value, piped: Option<Value>) -> Result<Value> {
    match c {
        Command::Field(path) => Ok(lookup(data, path).cloned().unwrap_or(Value::Null)),
        Command::Literal(s) => Ok(Value::String(s.clone())),
        Command::Func(name, args) => {
            let mut vals = args
                .iter()
                .map(|a| eval_command(a, data, None))
                .collect::<Result<Vec<_>>>()?;
            if let Some(p) = piped {
                vals.push(p);
            }
            let [arg] = vals.as_slice() else {
                return Err(Error::invalid(format!(
                    "template: {name} takes one argument, got {}",
                    vals.len()
                )));
            };
            Ok(match name.as_str() {
                "json" => Value::String(serde_json::to_string(arg).unwrap_or_default()),
                "prettyjson" => Value::String(pretty4(arg)),
                "upper" => Value::String(go_string(arg).to_uppercase()),
                "lower" => Value::String(go_string(arg).to_lowercase()),
                _ => unreachable!("parse_pipeline only admits known functions"),
            })
        }
    }
}

fn eval_pipeline(p: &Pipeline, data: &Value) -> Result<Value> {
    let mut v: Option<Value> = None;
    for c in &p.0 {
        if v.is_some() && !matches!(c, Command::Func(..)) {
            return Err(Error::invalid("template: only functions can follow a pipe"));
        }
        v = Some(eval_command(c, data, v)?);
    }
    Ok(v.unwrap_or(Value::Null))
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn render_nodes(nodes: &[Node], data: &Value, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&go_string(&eval_pipeline(p, data)?)),
            Node::If(c, then, otherwise) => {
                let branch = if truthy(&eval_pipeline(c, data)?) {
                    then
                } else {
                    otherwise
                };
                render_nodes(branch, data, out)?;
            }
            Node::Range(list, body) => match eval_pipeline(list, data)? {
                Value::Array(items) => {
                    for item in &items {
                        render_nodes(body, item, out)?;
                    }
                }
                Value::Object(map) => {
                    for item in map.values() {
                        render_nodes(body, item, out)?;
                    }
                }
                Value::Null => {}
                other => {
                    return Err(Error::invalid(format!(
                        "template: range can't iterate over {other}"
                    )));
                }
            },
        }
    }
    Ok(())
}

/// How Go's fmt prints a value decoded from JSON.
pub fn go_string(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_string).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(o) => {
            let mut keys: Vec<_> = o.keys().collect();
            keys.sort();
            format!(
                "map[{}]",
                keys.iter()
                    .map(|k| format!("{k}:{}", go_string(&o[*k])))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

/// JSON indented with four spaces (docker-machine's inspect and prettyjson).
pub fn pretty4(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    let _ = serde::Serialize::serialize(v, &mut ser);
    String::from_utf8(buf).unwrap_or_default()
}

/// Aligns tab-separated cells like Go's tabwriter with docker-machine's settings (minwidth 5,
/// padding 3): every cell but the last of its line is padded to its column's width.
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let cols = lines
        .iter()
        .map(|l| l.len().saturating_sub(1))
        .max()
        .unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for l in &lines {
        for (i, cell) in l.iter().enumerate().take(l.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for l in &lines {
        for (i, cell) in l.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < l.len() {
                let w = (widths[i] + 3).max(5);
                out.push_str(&" ".repeat(w - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: Value) -> String {
        Template::parse(t).unwrap().render(&v).unwrap()
    }

    #[test]
    fn fields_funcs_and_blocks() {
        let v = json!({"Name": "dev", "Driver": {"IPAddress": "1.2.3.4", "SSHPort": 22}, "L": ["a", "b"], "T": true, "E": ""});
        assert_eq!(
            r(
                "{{.Name}} {{ .Driver.IPAddress }}:{{.Driver.SSHPort}}",
                v.clone()
            ),
            "dev 1.2.3.4:22"
        );
        assert_eq!(
            r("{{json .L}}|{{.L}}|{{.Missing}}", v.clone()),
            "[\"a\",\"b\"]|[a b]|<no value>"
        );
        assert_eq!(r("{{.Name | upper}}", v.clone()), "DEV");
        assert_eq!(
            r(
                "{{if .T}}y{{else}}n{{end}}{{if .E}}y{{else}}n{{end}}",
                v.clone()
            ),
            "yn"
        );
        assert_eq!(r("{{range .L}}<{{.}}>{{end}}", v.clone()), "<a><b>");
        assert_eq!(
            r("{{prettyjson .Driver}}", v),
            "{\n    \"IPAddress\": \"1.2.3.4\",\n    \"SSHPort\": 22\n}"
        );
    }

    #[test]
    fn errors() {
        for bad in [
            "{{.Name",
            "{{call .X}}",
            "{{if .X}}",
            "{{end}}",
            "{{.A..B}}",
            "{{\"x}}",
            "{{}}",
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert!(
                e.message().starts_with("template parsing error"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn tabwriter_matches_docker_machine_layout() {
        let t = tabwrite("NAME\tACTIVE\tURL\ndefault\t*\ttcp://1.2.3.4:2376\n");
        assert_eq!(
            t,
            "NAME      ACTIVE   URL\ndefault   *        tcp://1.2.3.4:2376\n"
        );
    }
}
