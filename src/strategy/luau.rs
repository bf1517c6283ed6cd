//! Direct Luau calls on the per-bar path: the dispatcher's resume and the bar buffer's
//! write, without mlua's general machinery.
//!
//! A bar resumes the strategy's dispatcher coroutine with no values, and the coroutine
//! yields nothing (end of the callback) or one request op; an answered request without
//! values resumes it with `(true, nil, nil)`. mlua's [`Thread::resume`] serves any
//! arguments and results: it moves them through the main state's stack under guards and
//! converts them, which costs several times the resume itself. Here those two shapes run as
//! a plain `lua_resume` on the coroutine, reading the yielded op from its stack.
//!
//! Everything else keeps mlua's behaviour exactly: a coroutine that is not suspended
//! without pending values (new, finished, dead) is resumed by mlua; yielded values of
//! another shape are converted by mlua; an error is taken off the coroutine the way mlua's
//! resume takes it (a Rust error raised by a callback, such as the budget error of the
//! interrupt, comes back as itself; a memory error as [`mlua::Error::MemoryError`]; any
//! other value as a runtime error of its text and the coroutine's traceback).
//!
//! mlua's thread-event callbacks and hook yields are not used by the host (its interrupt
//! continues or raises, never yields), so this path has nothing of theirs to run.
//!
//! [`BarBuffer`] writes a bar's numbers straight into the Luau buffer the prelude reads
//! them from (mlua's `Buffer::write_bytes` looks the buffer up through its registry
//! reference on every write). The second of the crate's `unsafe` modules, next to
//! [`super::meter`].
#![allow(unsafe_code)]

use mlua::{ffi, Lua, Thread, Value};
use std::os::raw::c_int;
use std::ptr;

/// A Luau buffer the host writes in place (see the module docs).
#[derive(Debug)]
pub(crate) struct BarBuffer {
    /// Keeps the buffer alive (and is what Lua code is given).
    buffer: mlua::Buffer,
    /// Its bytes: Luau never moves or resizes a buffer, and `buffer` keeps it alive.
    data: *mut u8,
    len: usize,
}

impl BarBuffer {
    /// A zeroed buffer of `len` bytes in `lua`.
    ///
    /// # Errors
    /// mlua's, when the buffer cannot be created.
    pub(crate) fn new(lua: &Lua, len: usize) -> mlua::Result<Self> {
        let buffer = lua.create_buffer_with_capacity(len)?;
        let (mut data, mut size) = (ptr::null_mut(), 0usize);
        // SAFETY: `exec_raw` pushes the buffer (its one argument) on the main state and
        // hands us that state under mlua's lock; `lua_tobuffer` only reads it.
        unsafe {
            lua.exec_raw::<()>(buffer.clone(), |state| {
                data = ffi::lua_tobuffer(state, -1, &mut size).cast::<u8>();
            })?;
        }
        if data.is_null() || size != len {
            return Err(mlua::Error::RuntimeError(format!("a buffer of {len} bytes has {size}")));
        }
        Ok(Self { buffer, data, len })
    }

    /// The buffer, as Lua code is given it.
    pub(crate) fn buffer(&self) -> &mlua::Buffer {
        &self.buffer
    }

    /// Copies `bytes` to the start of the buffer. Call between callbacks only (no Lua code
    /// of this state running).
    ///
    /// # Panics
    /// When `bytes` is longer than the buffer.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        assert!(bytes.len() <= self.len, "{} bytes do not fit a buffer of {}", bytes.len(), self.len);
        // SAFETY: `data` points to the buffer's `len` bytes, alive and in place while
        // `self.buffer` holds it (Luau's collector does not move objects); no Lua code runs
        // during the copy (`&mut self`: the host writes between callbacks), and no Rust
        // reference to those bytes exists (mlua's slices of them are temporaries).
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), self.data, bytes.len()) };
    }
}

/// The bytes of the string at `idx` of `state`'s stack, or `None` for another type.
///
/// # Safety
/// `idx` is a valid index; the bytes are valid while the string stays on the stack.
unsafe fn bytes_at<'a>(state: *mut ffi::lua_State, idx: c_int) -> Option<&'a [u8]> {
    // SAFETY: per the contract.
    if unsafe { ffi::lua_type(state, idx) } != ffi::LUA_TSTRING {
        return None;
    }
    let mut len = 0;
    // SAFETY: a string at a valid index: `lua_tolstring` returns its bytes and length
    // without converting (so without allocating or raising).
    unsafe {
        let data = ffi::lua_tolstring(state, idx, &mut len);
        Some(std::slice::from_raw_parts(data.cast::<u8>(), len))
    }
}

/// What the dispatcher is resumed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// No values (a bar: its numbers are in the bar buffer).
    Nothing,
    /// `(true, nil, nil)`: a request answered without values.
    Done,
}

/// Resumes `thread` with `answer`; returns the op it yielded, `None` when it yielded
/// nothing, or its error. The same results and errors as
/// `thread.resume::<Option<u8>>(..)` with the same values.
pub(crate) fn resume(lua: &Lua, thread: &Thread, answer: Answer) -> mlua::Result<Option<u8>> {
    let t = thread.state();
    // SAFETY: `t` is the coroutine's state, alive while `thread` is; reading its status and
    // stack top has no side effect.
    let suspended = unsafe { ffi::lua_status(t) == ffi::LUA_YIELD && ffi::lua_gettop(t) == 0 };
    if !suspended {
        return match answer {
            Answer::Nothing => thread.resume(()),
            Answer::Done => thread.resume((true, Value::Nil, Value::Nil)),
        };
    }
    // SAFETY: the coroutine is suspended in a yield with an empty stack (checked above), the
    // state mlua's resume would run too, and no Lua code runs on this Lua meanwhile (the host
    // resumes from Rust, never from inside a callback). The values pushed fit: a yielded
    // coroutine keeps LUA_MINSTACK free slots and `lua_checkstack` makes sure. The main
    // thread is what mlua passes as `from` at top level (only its C-call depth is read).
    let status = unsafe {
        let nargs = match answer {
            Answer::Nothing => 0,
            Answer::Done => {
                if ffi::lua_checkstack(t, 3) == 0 {
                    return thread.resume((true, Value::Nil, Value::Nil));
                }
                ffi::lua_pushboolean(t, 1);
                ffi::lua_pushnil(t);
                ffi::lua_pushnil(t);
                3
            }
        };
        ffi::lua_resume_(t, ffi::lua_mainthread(t), nargs)
    };
    if status == ffi::LUA_YIELD || status == ffi::LUA_OK {
        // SAFETY: after a yield or return the coroutine's stack holds exactly its results.
        unsafe { results(lua, t) }
    } else {
        // SAFETY: after an error the coroutine's stack top is the error value.
        let e = unsafe { error(lua, t, status) };
        // SAFETY: clearing a dead coroutine's stack, as mlua's guard does.
        unsafe { ffi::lua_settop(t, 0) };
        Err(e)
    }
}

/// Takes the coroutine's results off its stack: one small whole number is read here, any
/// other shape is converted by mlua as its resume would.
///
/// # Safety
/// `t` is a coroutine of `lua` that just yielded or returned.
unsafe fn results(lua: &Lua, t: *mut ffi::lua_State) -> mlua::Result<Option<u8>> {
    // SAFETY: per the contract, the stack holds the results; reading them has no side effect.
    let n = unsafe { ffi::lua_gettop(t) };
    if n == 0 {
        return Ok(None);
    }
    if n == 1 {
        // SAFETY: index 1 exists (n == 1).
        let op = unsafe { small_whole_number(t, 1) };
        if let Some(op) = op {
            // SAFETY: popping the one result (mlua's guard leaves the stack empty too).
            unsafe { ffi::lua_settop(t, 0) };
            return Ok(Some(op));
        }
    }
    // SAFETY: `exec_raw` gives the main state under mlua's lock and protection; the results
    // move there and mlua converts them as `Thread::resume` does (`from_stack_multi`).
    unsafe { lua.exec_raw::<Option<u8>>((), |state| ffi::lua_xmove(t, state, n)) }
}

/// The value at `idx` when it is a number holding a whole number from 0 to 255 (which mlua
/// converts to the same `u8`).
///
/// # Safety
/// `idx` is a valid index of `t`'s stack.
unsafe fn small_whole_number(t: *mut ffi::lua_State, idx: c_int) -> Option<u8> {
    // SAFETY: per the contract.
    if unsafe { ffi::lua_type(t, idx) } != ffi::LUA_TNUMBER {
        return None;
    }
    // SAFETY: a number at a valid index.
    let x = unsafe { ffi::lua_tonumberx(t, idx, ptr::null_mut()) };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "checked: a whole number in 0..=255")]
    let op = x as u8;
    (f64::from(op) == x).then_some(op)
}

/// The error a failed resume left on top of `t`'s stack, as mlua's resume reports it.
///
/// # Safety
/// `t` is a coroutine of `lua` whose resume just returned the error status `status`.
unsafe fn error(lua: &Lua, t: *mut ffi::lua_State, status: c_int) -> mlua::Error {
    if status == ffi::LUA_ERRMEM {
        // SAFETY: per the contract the top value exists; a string is read in place (at the
        // memory limit nothing here may allocate in Lua).
        if let Some(text) = unsafe { string_at(t, -1) } {
            return mlua::Error::MemoryError(text);
        }
    }
    // A copy of the error value as mlua reads it: a Rust error raised through Lua (by a
    // callback or the interrupt) comes back as the error itself.
    // SAFETY: `exec_raw` gives the main state under mlua's lock; `lua_xpush` copies the
    // coroutine's top value there (same Lua, one free slot: `exec_raw` checks 3).
    let value = unsafe { lua.exec_raw::<Value>((), |state| ffi::lua_xpush(t, state, -1)) };
    let value = match value {
        Ok(Value::Error(e)) => return *e,
        Ok(v) => v,
        Err(e) => return e,
    };
    if status == ffi::LUA_ERRMEM {
        // mlua takes memory errors as they are, without a traceback.
        return mlua::Error::MemoryError(format!("<{}>", value.type_name()));
    }
    // Any other value: its text (through `__tostring`, in the main state) and the
    // coroutine's traceback, as mlua's `error_traceback_thread`.
    // SAFETY: under `exec_raw`'s protection (a failing `__tostring` becomes its error, as in
    // mlua); the error value moves to the main state first, so `t`'s stack is only read by
    // the traceback. Only the text is left as the result.
    let text = unsafe {
        lua.exec_raw::<mlua::LuaString>((), |state| {
            ffi::lua_xmove(t, state, 1);
            let s = ffi::luaL_tolstring(state, -1, ptr::null_mut());
            if ffi::lua_checkstack(state, ffi::LUA_TRACEBACK_STACK) != 0 {
                ffi::luaL_traceback(state, t, s, 0);
                ffi::lua_remove(state, -2);
            }
            ffi::lua_remove(state, -2);
        })
    };
    match text {
        Ok(s) => mlua::Error::RuntimeError(s.to_string_lossy()),
        Err(e) => e,
    }
}

/// The string at `idx` of `t`'s stack (lossy UTF-8), or `None` for another type.
///
/// # Safety
/// `idx` is a valid index of `t`'s stack.
unsafe fn string_at(t: *mut ffi::lua_State, idx: c_int) -> Option<String> {
    // SAFETY: per the contract; the bytes are copied while the string is on the stack.
    unsafe { bytes_at(t, idx) }.map(|b| String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::Function;

    /// The coroutine body both resumes run: every shape of yield, then `ending`.
    fn body(ending: &str) -> String {
        format!(
            r#"
            local ok, x, y = coroutine.yield()
            assert(ok == nil)
            ok, x, y = coroutine.yield(7)
            assert(ok == true and x == nil and y == nil)
            coroutine.yield(255)
            coroutine.yield(0)
            coroutine.yield(2.5)
            coroutine.yield(256)
            coroutine.yield(-1)
            coroutine.yield("4")
            coroutine.yield(1, 2)
            coroutine.yield(nil)
            {ending}
            "#
        )
    }

    const ANSWERS: [Answer; 11] = [
        Answer::Nothing,
        Answer::Done,
        Answer::Nothing,
        Answer::Done,
        Answer::Nothing,
        Answer::Nothing,
        Answer::Nothing,
        Answer::Nothing,
        Answer::Nothing,
        Answer::Nothing,
        Answer::Nothing,
    ];

    /// What each resume returned (errors as text), with this module's resume or mlua's.
    fn run(ending: &str, fast: bool) -> Vec<String> {
        let lua = Lua::new();
        let fail = lua.create_function(|_, ()| Err::<(), _>(mlua::Error::runtime("raised in Rust"))).unwrap();
        lua.globals().set("fail", fail).unwrap();
        let f = lua.load(body(ending)).set_name("=body").into_function().unwrap();
        let thread = lua.create_thread(f).unwrap();
        let mut seen = vec![format!("{:?}", thread.resume::<Option<u8>>(()))];
        for answer in ANSWERS.into_iter().chain([Answer::Nothing, Answer::Done]) {
            let r = if fast {
                resume(&lua, &thread, answer)
            } else {
                match answer {
                    Answer::Nothing => thread.resume(()),
                    Answer::Done => thread.resume((true, Value::Nil, Value::Nil)),
                }
            };
            seen.push(match r {
                Ok(v) => format!("{v:?}"),
                Err(e) => format!("error: {e}"),
            });
        }
        seen
    }

    #[test]
    fn resumes_yield_return_and_fail_as_mluas() {
        for ending in [
            "error('boom')",
            "error('at level 0', 0)",
            "error(42)",
            "error(nil)",
            "error(setmetatable({}, { __tostring = function() return 'custom' end }))",
            "error(setmetatable({}, { __tostring = function() error('tostring fails') end }))",
            "fail()",
            "local t = nil; return t.x",
            "return 3",
            "return",
        ] {
            let (fast, slow) = (run(ending, true), run(ending, false));
            assert_eq!(fast, slow, "{ending}");
        }
    }

    #[test]
    fn a_memory_error_is_mluas_memory_error() {
        let outcome = |fast: bool| {
            let lua = Lua::new();
            let f = lua
                .load("coroutine.yield() local t = {} for i = 1, 1e8 do t[i] = tostring(i) end")
                .into_function()
                .unwrap();
            let thread = lua.create_thread(f).unwrap();
            thread.resume::<Option<u8>>(()).unwrap();
            lua.set_memory_limit(lua.used_memory() + (1 << 20)).unwrap();
            let r = if fast { resume(&lua, &thread, Answer::Nothing) } else { thread.resume(()) };
            format!("{r:?}")
        };
        let fast = outcome(true);
        assert!(fast.contains("MemoryError"), "{fast}");
        assert_eq!(fast, outcome(false));
    }

    #[test]
    fn the_bar_buffer_is_what_lua_reads() {
        let lua = Lua::new();
        let mut b = BarBuffer::new(&lua, 16).unwrap();
        b.write(&2.5f64.to_le_bytes());
        b.write(&[1, 0, 0, 0]);
        let read: Function =
            lua.load("function(b) return buffer.readu32(b, 0), buffer.readf64(b, 8) end").eval().unwrap();
        let (u, x): (u32, f64) = read.call(b.buffer().clone()).unwrap();
        assert_eq!(u, 1);
        assert_eq!(x, 0.0);
        b.write(&[0; 8].into_iter().chain(7.25f64.to_le_bytes()).collect::<Vec<u8>>());
        let (u, x): (u32, f64) = read.call(b.buffer().clone()).unwrap();
        assert_eq!((u, x), (0, 7.25));
    }
}
