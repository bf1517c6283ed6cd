//! The per-callback instruction budget's counter, kept off mlua's interrupt path.
//!
//! Luau calls the state's interrupt hook at every safepoint (each call, return and loop
//! back-edge; about eight per bar for `sma_cross.lua`). mlua's hook wraps the Rust closure
//! in its error-catching frame on every one of those calls, which cost more than the bar's
//! own strategy code. Here a plain counter in front of it does the counting, and mlua's hook
//! (which runs the strategy's closure and raises the Lua error with the strategy's line) is
//! only called once the budget is spent.
//!
//! The counter is per thread: one callback runs at a time on a thread (the host answers a
//! strategy's requests without running any other Lua), and [`start`] resets it before each
//! callback. This is the crate's one `unsafe` module: it swaps one function pointer in
//! Luau's callback table, exactly as mlua's own `set_interrupt` does.
#![allow(unsafe_code)]

use mlua::{ffi, Lua};
use std::cell::Cell;
use std::os::raw::c_int;
use std::sync::OnceLock;

/// Luau's interrupt hook signature.
type Hook = unsafe extern "C-unwind" fn(*mut ffi::lua_State, c_int);

thread_local! {
    /// Safepoints passed in the running callback, and the callback's budget.
    static METER: Cell<(u64, u64)> = const { Cell::new((0, u64::MAX)) };
}

/// mlua's hook (one function for every state: it finds the state's closure itself).
static MLUA_HOOK: OnceLock<Hook> = OnceLock::new();

/// Starts counting a callback's safepoints against `budget`.
pub(crate) fn start(budget: u64) {
    METER.with(|m| m.set((0, budget)));
}

/// Whether the callback that ran last on this thread went over its budget.
pub(crate) fn over() -> bool {
    METER.with(|m| {
        let (used, budget) = m.get();
        used > budget
    })
}

/// The pre-filter Luau calls at each safepoint: counts, and hands over to mlua's hook (which
/// raises the budget error through the strategy's closure) only past the budget.
unsafe extern "C-unwind" fn count(state: *mut ffi::lua_State, gc: c_int) {
    if gc >= 0 {
        return; // a GC step, not a safepoint of the strategy's code (mlua ignores these too)
    }
    let spent = METER.with(|m| {
        let (used, budget) = m.get();
        m.set((used + 1, budget));
        used >= budget
    });
    if spent {
        if let Some(hook) = MLUA_HOOK.get() {
            // SAFETY: called from Luau's safepoint with the arguments Luau passed us, the same
            // context in which Luau would call mlua's hook directly; this frame owns nothing
            // with a destructor, so the Lua error mlua raises may unwind through it.
            unsafe { hook(state, gc) };
        }
    }
}

/// Puts the counter in front of the interrupt hook that `lua.set_interrupt` installed; the
/// closure given there is then called only once the budget is spent.
///
/// # Errors
/// When no interrupt is installed yet (the budget would not be enforced), or mlua fails.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let mut installed = None;
    // SAFETY: `exec_raw` hands us the state while holding mlua's lock; reading and writing
    // the `interrupt` field of the state's callback table is what mlua's `set_interrupt`
    // does, and nothing else runs Lua code on this state meanwhile.
    unsafe {
        lua.exec_raw::<()>((), |state| {
            let callbacks = ffi::lua_callbacks(state);
            installed = (*callbacks).interrupt;
            if let Some(hook) = installed {
                if !std::ptr::fn_addr_eq(hook, count as Hook) {
                    let _ = MLUA_HOOK.set(hook);
                    (*callbacks).interrupt = Some(count);
                }
            }
        })?;
    }
    if installed.is_none() {
        return Err(mlua::Error::RuntimeError("no interrupt hook to put the instruction meter in front of".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::VmState;
    use std::rc::Rc;

    fn metered(budget: u64) -> (Lua, Rc<Cell<u32>>) {
        let lua = Lua::new();
        let calls = Rc::new(Cell::new(0));
        let seen = calls.clone();
        lua.set_interrupt(move |_| {
            seen.set(seen.get() + 1);
            if over() {
                return Err(mlua::Error::RuntimeError("budget spent".into()));
            }
            Ok(VmState::Continue)
        });
        install(&lua).unwrap();
        start(budget);
        (lua, calls)
    }

    #[test]
    fn a_runaway_loop_stops_at_the_budget_and_the_closure_runs_once() {
        let (lua, calls) = metered(10_000);
        let err = lua.load("local n = 0 while true do n = n + 1 end").exec().unwrap_err();
        assert!(err.to_string().contains("budget spent"), "{err}");
        assert!(over());
        assert_eq!(calls.get(), 1, "mlua's hook runs only past the budget");
    }

    #[test]
    fn code_within_the_budget_runs_without_calling_the_closure() {
        let (lua, calls) = metered(10_000);
        let n: i64 = lua.load("local n = 0 for i = 1, 100 do n = n + i end return n").eval().unwrap();
        assert_eq!(n, 5050);
        assert!(!over());
        assert_eq!(calls.get(), 0);
        // The count is per callback: a fresh start forgives what was spent before.
        start(50);
        assert!(lua.load("for i = 1, 1000 do end").exec().is_err());
        start(50);
        assert!(lua.load("for i = 1, 10 do end").exec().is_ok());
    }

    #[test]
    fn installing_twice_keeps_mluas_hook_behind_the_counter() {
        let (lua, calls) = metered(100);
        install(&lua).unwrap();
        start(100);
        assert!(lua.load("while true do end").exec().is_err());
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn without_an_interrupt_there_is_nothing_to_meter() {
        let lua = Lua::new();
        assert!(install(&lua).is_err());
    }
}
