//! Unkey's permission queries: `read AND (write OR admin)`. AND binds tighter than OR,
//! parentheses group, the operators are words in any case, and a permission is a run of letters,
//! digits and `. _ - : * /` (a `*` is a literal character, not a wildcard). The grammar is
//! Unkey's (`pkg/rbac/parser.go`):
//!
//! ```text
//! expression    → andExpression (OR andExpression)*
//! andExpression → primary (AND primary)*
//! primary       → PERMISSION | "(" expression ")"
//! ```

/// The longest query accepted (Unkey's `permissions` has `maxLength: 1000`).
pub const MAX_QUERY_LEN: usize = 1000;

/// How deep parentheses may nest, so a hostile query cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Permission(String),
    And(Box<Query>, Box<Query>),
    Or(Box<Query>, Box<Query>),
}

impl Query {
    /// Whether a key holding `granted` satisfies the query.
    pub fn allows(&self, granted: &[String]) -> bool {
        match self {
            Self::Permission(p) => granted.iter().any(|g| g == p),
            Self::And(a, b) => a.allows(granted) && b.allows(granted),
            Self::Or(a, b) => a.allows(granted) || b.allows(granted),
        }
    }

    /// The permissions it names, in order, each once.
    pub fn named(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut Vec<String>) {
        match self {
            Self::Permission(p) if !out.contains(p) => out.push(p.clone()),
            Self::Permission(_) => {}
            Self::And(a, b) | Self::Or(a, b) => {
                a.collect(out);
                b.collect(out);
            }
        }
    }

    /// When the query only ANDs permissions together, the list of them: the core can then check
    /// it as required scopes, exactly as `/v1/verify` does.
    pub fn conjunction(&self) -> Option<Vec<String>> {
        fn walk(q: &Query, out: &mut Vec<String>) -> bool {
            match q {
                Query::Permission(p) => {
                    if !out.contains(p) {
                        out.push(p.clone());
                    }
                    true
                }
                Query::And(a, b) => walk(a, out) && walk(b, out),
                Query::Or(..) => false,
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out).then_some(out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Permission(String),
    And,
    Or,
    Open,
    Close,
    End,
}

fn is_permission_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '*' | '/')
}

/// Splits the query into tokens with their byte positions.
fn lex(input: &str) -> Result<Vec<(Token, usize)>, String> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(pos, c)) = chars.peek() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push((Token::Open, pos));
            }
            ')' => {
                chars.next();
                tokens.push((Token::Close, pos));
            }
            c if is_permission_char(c) => {
                let mut word = String::new();
                while let Some(&(_, c)) = chars.peek().filter(|(_, c)| is_permission_char(*c)) {
                    word.push(c);
                    chars.next();
                }
                let token = if word.eq_ignore_ascii_case("and") {
                    Token::And
                } else if word.eq_ignore_ascii_case("or") {
                    Token::Or
                } else {
                    Token::Permission(word)
                };
                tokens.push((token, pos));
            }
            other => {
                return Err(format!(
                    "Invalid character '{}' at position {pos}. Only letters, numbers, dots, \
                     underscores, hyphens, slashes, colons, asterisks and parentheses are allowed.",
                    other.escape_default()
                ))
            }
        }
    }
    tokens.push((Token::End, input.len()));
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &(Token, usize) {
        // lex always ends with End, and the parser never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) {
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
    }

    fn expression(&mut self) -> Result<Query, String> {
        let mut left = self.and_expression()?;
        while self.peek().0 == Token::Or {
            self.advance();
            left = Query::Or(Box::new(left), Box::new(self.and_expression()?));
        }
        Ok(left)
    }

    fn and_expression(&mut self) -> Result<Query, String> {
        let mut left = self.primary()?;
        while self.peek().0 == Token::And {
            self.advance();
            left = Query::And(Box::new(left), Box::new(self.primary()?));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Query, String> {
        let (token, pos) = self.peek().clone();
        match token {
            Token::Permission(p) => {
                self.advance();
                Ok(Query::Permission(p))
            }
            Token::Open => {
                self.advance();
                if self.peek().0 == Token::Close {
                    return Err(format!(
                        "Empty parentheses at position {}. Parentheses must contain at least \
                         one permission.",
                        self.peek().1
                    ));
                }
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(format!(
                        "Parentheses nest deeper than {MAX_DEPTH} levels at position {pos}."
                    ));
                }
                let inner = self.expression()?;
                self.depth -= 1;
                let (next, at) = self.peek().clone();
                if next != Token::Close {
                    return Err(format!(
                        "Missing closing parenthesis ')' at position {at} for the '(' at \
                         position {pos}."
                    ));
                }
                self.advance();
                Ok(inner)
            }
            Token::End => Err(
                "Unexpected end of query. Expected a permission or an opening parenthesis."
                    .to_owned(),
            ),
            other => Err(format!(
                "Unexpected {} at position {pos}. Expected a permission or an opening \
                 parenthesis.",
                describe(&other)
            )),
        }
    }
}

fn describe(token: &Token) -> &'static str {
    match token {
        Token::And => "'AND'",
        Token::Or => "'OR'",
        Token::Close => "')'",
        Token::Open => "'('",
        Token::Permission(_) => "permission",
        Token::End => "end of query",
    }
}

/// Parses a permission query; the error says what is wrong and where (byte position).
pub fn parse(input: &str) -> Result<Query, String> {
    if input.len() > MAX_QUERY_LEN {
        return Err(format!(
            "The query is {} characters long; at most {MAX_QUERY_LEN} are allowed.",
            input.len()
        ));
    }
    let tokens = lex(input)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    if parser.peek().0 == Token::End {
        return Err("The query is empty. Give at least one permission.".to_owned());
    }
    let query = parser.expression()?;
    let (next, pos) = parser.peek().clone();
    if next != Token::End {
        return Err(format!(
            "Unexpected {} at position {pos}: the query has more after a complete expression.",
            describe(&next)
        ));
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str) -> Query {
        Query::Permission(name.to_owned())
    }
    fn and(a: Query, b: Query) -> Query {
        Query::And(Box::new(a), Box::new(b))
    }
    fn or(a: Query, b: Query) -> Query {
        Query::Or(Box::new(a), Box::new(b))
    }
    fn granted(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            parse("a OR b AND c").expect("parses"),
            or(p("a"), and(p("b"), p("c")))
        );
        assert_eq!(
            parse("a AND b OR c").expect("parses"),
            or(and(p("a"), p("b")), p("c"))
        );
        assert_eq!(
            parse("read AND (write OR admin)").expect("parses"),
            and(p("read"), or(p("write"), p("admin")))
        );
        // Left-associative, operators in any case, whitespace anywhere.
        assert_eq!(
            parse(" a and\tb\nAnd c ").expect("parses"),
            and(and(p("a"), p("b")), p("c"))
        );
    }

    #[test]
    fn evaluation_follows_precedence() {
        let q = parse("read AND (write OR admin)").expect("parses");
        assert!(q.allows(&granted(&["read", "admin"])));
        assert!(!q.allows(&granted(&["read"])));
        assert!(!q.allows(&granted(&["write", "admin"])));
        let loose = parse("read AND write OR admin").expect("parses");
        assert!(loose.allows(&granted(&["admin"])));
        assert!(!loose.allows(&granted(&["read"])));
    }

    #[test]
    fn permission_names_take_unkeys_characters() {
        let q = parse("models:chat AND api.*.verify_key AND /v1/x AND a-b").expect("parses");
        assert_eq!(
            q.named(),
            ["models:chat", "api.*.verify_key", "/v1/x", "a-b"]
        );
        // Words that merely contain an operator are permissions.
        assert_eq!(
            parse("ANDROID OR oracle").expect("parses"),
            or(p("ANDROID"), p("oracle"))
        );
    }

    #[test]
    fn conjunctions_become_required_scopes() {
        let q = parse("read AND write AND read").expect("parses");
        assert_eq!(q.conjunction(), Some(granted(&["read", "write"])));
        assert_eq!(parse("read OR write").expect("parses").conjunction(), None);
        assert_eq!(
            parse("(read)").expect("parses").conjunction(),
            Some(granted(&["read"]))
        );
    }

    #[test]
    fn bad_syntax_is_named_with_its_position() {
        for (query, words) in [
            ("", "empty"),
            ("   ", "empty"),
            ("AND read", "Unexpected 'AND' at position 0"),
            ("read AND", "Unexpected end of query"),
            ("read OR OR write", "Unexpected 'OR' at position 8"),
            ("(read", "Missing closing parenthesis"),
            ("read)", "Unexpected ')' at position 4"),
            ("()", "Empty parentheses at position 1"),
            ("read write", "Unexpected permission at position 5"),
            ("read & write", "Invalid character '&' at position 5"),
            ("read AND \"x\"", "Invalid character"),
            ("réad", "Invalid character"),
        ] {
            let error = parse(query).expect_err(query);
            assert!(error.contains(words), "{query:?}: {error}");
        }
        assert!(parse(&"a".repeat(1001))
            .expect_err("too long")
            .contains("1000"));
        let deep = format!("{}a{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).expect_err("deep").contains("nest"));
        let fine = format!("{}a{}", "(".repeat(30), ")".repeat(30));
        assert_eq!(parse(&fine).expect("30 levels"), p("a"));
    }
}
