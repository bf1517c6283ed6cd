//! A line reader over large chunks: one `read` per [`CHUNK`] bytes, lines found with
//! `memchr`, handed out as ranges into the reader's own buffer (no copy, no allocation per
//! line). Memory is one chunk, or the longest line if that is longer, whatever the file length.

use std::io::{ErrorKind, Read};
use std::ops::Range;

/// Bytes asked of the file per read.
pub(crate) const CHUNK: usize = 256 * 1024;

/// Splits a byte stream into lines (`\n`-terminated; the last may lack its `\n`).
#[derive(Debug)]
pub(crate) struct Lines<R> {
    input: R,
    buf: Vec<u8>,
    /// Start of the bytes not yet handed out.
    pos: usize,
    /// End of the bytes read so far.
    end: usize,
    eof: bool,
}

impl<R: Read> Lines<R> {
    /// A reader over `input` with a buffer of `chunk` bytes (grown only for a longer line).
    pub(crate) fn new(input: R, chunk: usize) -> Self {
        Self { input, buf: vec![0; chunk.max(1)], pos: 0, end: 0, eof: false }
    }

    /// The buffer the ranges returned by [`Self::next_line`] index into.
    #[inline]
    pub(crate) fn buf(&self) -> &[u8] {
        &self.buf
    }

    /// The bytes read but not yet handed out, where they start in [`Self::buf`], and whether
    /// the input has ended (nothing follows them). A caller that finds a line in them hands it
    /// out with [`Self::consume`]; otherwise [`Self::next_line`] reads on.
    #[inline]
    pub(crate) fn unread(&self) -> (&[u8], usize, bool) {
        (&self.buf[self.pos..self.end], self.pos, self.eof)
    }

    /// Hands out the first `n` bytes of [`Self::unread`] (one or more whole lines).
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.pos);
        self.pos += n;
    }

    /// The next line without its `\n` (a `\r` before it is kept); `None` at end of input.
    /// The range stays valid until the next call.
    ///
    /// # Errors
    /// The input's read error (`Interrupted` reads are retried).
    #[inline]
    pub(crate) fn next_line(&mut self) -> std::io::Result<Option<Range<usize>>> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos..self.end]) {
                let start = self.pos;
                self.pos += i + 1;
                return Ok(Some(start..start + i));
            }
            if self.eof {
                if self.pos < self.end {
                    let rest = self.pos..self.end;
                    self.pos = self.end;
                    return Ok(Some(rest));
                }
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Moves the unread tail to the front and reads more after it.
    #[cold]
    fn fill(&mut self) -> std::io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            // One line longer than the buffer: grow for it.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(text: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let mut lines = Lines::new(text, chunk);
        let mut out = Vec::new();
        while let Some(r) = lines.next_line().unwrap() {
            out.push(lines.buf()[r].to_vec());
        }
        out
    }

    /// What `BufRead::read_until(b'\n')` gives, without the `\n`: the reference.
    fn reference(text: &[u8]) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        if text.is_empty() || text.ends_with(b"\n") {
            out.pop();
        }
        out
    }

    #[test]
    fn final_line_without_newline_and_crlf_kept() {
        assert_eq!(all(b"a,b\r\nc\n\nd", 4), [&b"a,b\r"[..], b"c", b"", b"d"]);
        assert!(all(b"", 4).is_empty());
        assert_eq!(all(b"\n", 1), [&b""[..]]);
    }

    #[test]
    fn file_an_exact_multiple_of_the_chunk() {
        // 3 lines of 8 bytes each = 24 bytes, chunk 8 and 12: a read ends exactly on a line end.
        let text = b"1234567\nabcdefg\nABCDEFG\n";
        for chunk in [8, 12, 24] {
            assert_eq!(all(text, chunk), reference(text), "chunk {chunk}");
        }
    }

    #[test]
    fn a_line_longer_than_the_chunk_grows_the_buffer() {
        let long = vec![b'x'; 1000];
        let mut text = long.clone();
        text.extend_from_slice(b"\nshort\n");
        let got = all(&text, 16);
        assert_eq!(got, [long, b"short".to_vec()]);
    }

    #[test]
    fn lines_taken_in_place_and_by_next_line_interleave() {
        let mut lines = Lines::new(&b"ab\ncd\nef"[..], 8);
        assert_eq!(lines.unread(), (&b""[..], 0, false));
        let r = lines.next_line().unwrap().unwrap();
        assert_eq!(&lines.buf()[r], b"ab");
        assert_eq!(lines.unread(), (&b"cd\nef"[..], 3, false));
        lines.consume(3);
        let r = lines.next_line().unwrap().unwrap();
        assert_eq!(&lines.buf()[r], b"ef");
        assert_eq!(lines.unread(), (&b""[..], 2, true));
        assert_eq!(lines.next_line().unwrap(), None);
    }

    /// A reader that hands out one byte per call and is interrupted every other call.
    struct Trickle<'a>(&'a [u8], bool);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            self.1 = !self.1;
            if self.1 {
                return Err(std::io::Error::new(ErrorKind::Interrupted, "again"));
            }
            let Some((&b, rest)) = self.0.split_first() else { return Ok(0) };
            out[0] = b;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn short_and_interrupted_reads() {
        let text = b"ts,a\n1,2\n\n3,4";
        let mut lines = Lines::new(Trickle(text, false), 4);
        let mut got = Vec::new();
        while let Some(r) = lines.next_line().unwrap() {
            got.push(lines.buf()[r].to_vec());
        }
        assert_eq!(got, reference(text));
    }

    proptest! {
        #[test]
        fn same_lines_as_read_until(text in prop::collection::vec(prop::sample::select(b"ab,\r\n".to_vec()), 0..200), chunk in 1usize..40) {
            prop_assert_eq!(all(&text, chunk), reference(&text));
        }
    }
}
