//! Splits configuration text into words, `;` terminators and quoted strings, with positions.
//!
//! c-relay's language is whitespace separated; `#` starts a comment to the end of the line
//! (anywhere, also inside a word, as in c-relay's lexer); `;` always ends a statement outside
//! quotes; a backslash keeps the next character (even a space) in the word; `"..."` is one word whatever it contains, with `\x` standing for `x`.

use std::path::Path;

use crate::error::{Error, Pos, Result};

/// One lexical item.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Word text (unquoted), or `;`.
    pub text: String,
    /// Whether it came from a quoted string (never a keyword then).
    pub quoted: bool,
    /// Where it starts.
    pub pos: Pos,
}

impl Token {
    /// Whether this is the statement terminator.
    pub fn is_end(&self) -> bool {
        !self.quoted && self.text == ";"
    }

    /// Whether this is the given keyword.
    pub fn is(&self, kw: &str) -> bool {
        !self.quoted && self.text == kw
    }
}

/// Longest word accepted; c-relay's own buffers are smaller.
const MAX_WORD: usize = 8192;

/// Tokenises `text` read from `file`.
pub fn tokenize(text: &str, file: &Path) -> Result<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut col) = (1usize, 1usize);
    let pos = |line, col| Pos {
        file: file.to_owned(),
        line,
        col,
    };
    while let Some(&c) = chars.peek() {
        if c == '\n' {
            chars.next();
            line += 1;
            col = 1;
        } else if c.is_whitespace() {
            chars.next();
            col += 1;
        } else if c == '#' {
            while chars.peek().is_some_and(|&c| c != '\n') {
                chars.next();
            }
        } else if c == ';' {
            chars.next();
            out.push(Token {
                text: ";".into(),
                quoted: false,
                pos: pos(line, col),
            });
            col += 1;
        } else if c == '"' {
            let start = pos(line, col);
            chars.next();
            col += 1;
            let mut s = String::new();
            loop {
                match chars.next() {
                    None | Some('\n') => {
                        return Err(Error::At {
                            pos: start,
                            message: "unterminated string".into(),
                        })
                    }
                    Some('"') => {
                        col += 1;
                        break;
                    }
                    Some('\\') => {
                        col += 1;
                        match chars.next() {
                            Some('\n') | None => {
                                return Err(Error::At {
                                    pos: start,
                                    message: "unterminated string".into(),
                                })
                            }
                            Some(e) => {
                                s.push(e);
                                col += 1;
                            }
                        }
                    }
                    Some(ch) => {
                        s.push(ch);
                        col += 1;
                    }
                }
                if s.len() > MAX_WORD {
                    return Err(Error::At {
                        pos: start,
                        message: "string too long".into(),
                    });
                }
            }
            if s.is_empty() {
                return Err(Error::At {
                    pos: start,
                    message: "empty string".into(),
                });
            }
            out.push(Token {
                text: s,
                quoted: true,
                pos: start,
            });
        } else {
            let start = pos(line, col);
            let mut s = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == ';' || ch == '#' || ch == '"' {
                    break;
                }
                s.push(ch);
                chars.next();
                col += 1;
                // A backslash keeps the next character in the word (`\ ` in a regex), as in c-relay.
                if ch == '\\' {
                    if let Some(&e) = chars.peek().filter(|e| **e != '\n') {
                        s.push(e);
                        chars.next();
                        col += 1;
                    }
                }
            }
            if s.len() > MAX_WORD {
                return Err(Error::At {
                    pos: start,
                    message: "word too long".into(),
                });
            }
            out.push(Token {
                text: s,
                quoted: false,
                pos: start,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_strings_comments_positions() {
        let t = tokenize("match ^a\\.b # c\n  send to \"x y\";", Path::new("f")).unwrap();
        let texts: Vec<_> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["match", "^a\\.b", "send", "to", "x y", ";"]);
        assert_eq!((t[2].pos.line, t[2].pos.col), (2, 3));
        assert!(t[4].quoted && t[5].is_end());
        assert!(tokenize("a \"b\nc\"", Path::new("f")).is_err());
    }
}
