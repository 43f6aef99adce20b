//! How an async call crosses between JS and Rust: every call runs on one process-wide I/O
//! thread, and is settled on its JS thread through one threadsafe function shared by all calls.
//!
//! Why not napi-rs's `spawn_future`: per call it creates a threadsafe function (a libuv handle
//! opened and closed), an `Error` with a captured stack trace and an env cleanup hook, and it
//! runs the future on a multi-thread runtime where the caller's task and redis-rs's connection
//! task hand each command between worker threads. That was 6-8 context switches and ~60 µs of
//! CPU per call, three times what a pure-JS Redis client pays for the same GET.
//!
//! Here:
//! - **I/O thread.** A current-thread tokio runtime on its own thread: a call's task, the
//!   connection's driver task and the socket all live there, so a call costs one wake-up of
//!   that thread, and calls that arrive together share it.
//! - **Completions.** A finished call pushes its result into its JS thread's queue; only the
//!   push that finds the queue empty wakes that thread (`napi_call_threadsafe_function`), which
//!   then settles every call that finished meanwhile in one go.
//! - **Keeping Node alive.** The threadsafe function is referenced only while calls are in
//!   flight, so an idle addon never holds the event loop open, and a pending call always does.
//! - **Teardown** (a worker thread ends): the env's cleanup hook closes the queue before Node
//!   finalizes the threadsafe function; later completions are dropped, never delivered to a
//!   freed handle.
//! - **Borrowed buffers.** A `set` reads the caller's Buffer in place on the I/O thread (no
//!   copy on the JS thread); teardown waits until no such read is in progress.

use napi::bindgen_prelude::*;
use napi::sys;
use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};

/// A call as submitted: small (its arguments); the future, often kilobytes, is built and
/// allocated on the I/O thread.
/// It runs on the I/O thread, in the runtime's context, and spawns the call's task.
type Task = Box<dyn FnOnce() + Send>;

/// The I/O thread's inbox: calls submitted by JS threads, not started yet.
struct Inbox {
    tasks: Mutex<Vec<Task>>,
    arrived: tokio::sync::Notify,
}

/// The I/O runtime: one thread for the whole process (every JS thread, every store), started
/// on first use and never stopped (it sleeps in the kernel when idle). Calls go through the
/// inbox rather than `Handle::spawn`, which wakes the thread (a syscall) for every call: only
/// a call that finds the inbox empty wakes it, and it starts every call waiting there at once.
static IO: LazyLock<std::result::Result<Arc<Inbox>, String>> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let inbox = Arc::new(Inbox { tasks: Mutex::new(Vec::new()), arrived: tokio::sync::Notify::new() });
    let drained = inbox.clone();
    std::thread::Builder::new()
        .name("shared-isr-io".into())
        .spawn(move || {
            rt.block_on(async move {
                loop {
                    drained.arrived.notified().await;
                    let tasks = std::mem::take(&mut *drained.tasks.lock().unwrap_or_else(|p| p.into_inner()));
                    for t in tasks {
                        t();
                    }
                }
            })
        })
        .map_err(|e| e.to_string())?;
    Ok(inbox)
});

fn inbox() -> Result<&'static Inbox> {
    IO.as_deref().map_err(|e| Error::new(Status::GenericFailure, format!("cannot start the I/O thread: {e}")))
}

impl Inbox {
    fn submit(&self, task: Task) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.push(task);
        if tasks.len() == 1 {
            self.arrived.notify_one();
        }
    }
}

/// Settles one call on the JS thread: its value, or the error to reject with.
type Settle = Box<dyn FnOnce(sys::napi_env) -> Result<sys::napi_value> + Send>;

struct Done {
    deferred: sys::napi_deferred,
    settle: Settle,
}

// SAFETY: the deferred handle is only dereferenced by Node-API on the JS thread that created
// it (in `call_js`); other threads only move it.
unsafe impl Send for Done {}

/// One JS thread's side of the bridge, shared with the I/O thread.
struct Shared {
    /// Finished calls not settled yet; `None` once the env is torn down.
    queue: Mutex<Option<Vec<Done>>>,
    tsfn: AtomicPtr<sys::napi_threadsafe_function__>,
    /// Calls not settled yet (touched on the JS thread only).
    inflight: AtomicUsize,
    /// Read-held while the I/O thread reads JS memory; write-taken at teardown.
    reading: RwLock<()>,
}

thread_local! {
    /// This JS thread's bridge, with the env it belongs to (one env per JS thread in Node).
    static LOCAL: RefCell<Option<(usize, Arc<Shared>)>> = const { RefCell::new(None) };
}

fn check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok { Ok(()) } else { Err(Error::new(Status::from(status), format!("{what} failed"))) }
}

/// This JS thread's bridge, created on first use.
fn local(env: sys::napi_env) -> Result<Arc<Shared>> {
    if let Some(s) = LOCAL.with(|l| l.borrow().as_ref().filter(|(e, _)| *e == env as usize).map(|(_, s)| s.clone())) {
        return Ok(s);
    }
    let shared = Arc::new(Shared {
        queue: Mutex::new(Some(Vec::new())),
        tsfn: AtomicPtr::new(ptr::null_mut()),
        inflight: AtomicUsize::new(0),
        reading: RwLock::new(()),
    });
    unsafe {
        let mut name = ptr::null_mut();
        check(sys::napi_create_string_utf8(env, c"shared-isr".as_ptr(), 10, &mut name), "napi_create_string_utf8")?;
        let mut tsfn = ptr::null_mut();
        // The threadsafe function owns one reference (released by `finalize`); `context` borrows it.
        let owned = Arc::into_raw(shared.clone()) as *mut c_void;
        let status = sys::napi_create_threadsafe_function(
            env,
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            owned,
            Some(finalize),
            owned,
            Some(call_js),
            &mut tsfn,
        );
        if status != sys::Status::napi_ok {
            drop(Arc::from_raw(owned as *const Shared));
            return check(status, "napi_create_threadsafe_function").map(|_| unreachable!());
        }
        shared.tsfn.store(tsfn, Ordering::Release);
        check(sys::napi_unref_threadsafe_function(env, tsfn), "napi_unref_threadsafe_function")?;
        // Registered after the threadsafe function, so it runs before Node finalizes it
        // (cleanup hooks run in reverse order of registration).
        let hook = Arc::into_raw(shared.clone()) as *mut c_void;
        if let Err(e) = check(sys::napi_add_env_cleanup_hook(env, Some(teardown), hook), "napi_add_env_cleanup_hook") {
            drop(Arc::from_raw(hook as *const Shared));
            return Err(e);
        }
    }
    LOCAL.with(|l| *l.borrow_mut() = Some((env as usize, shared.clone())));
    Ok(shared)
}

/// Env teardown: no completion is delivered from now on, and no JS memory is read any more.
unsafe extern "C" fn teardown(arg: *mut c_void) {
    let shared = unsafe { Arc::from_raw(arg as *const Shared) };
    shared.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
    drop(shared.reading.write().unwrap_or_else(|p| p.into_inner()));
    let _ = LOCAL.try_with(|l| l.borrow_mut().take());
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    let shared = unsafe { Arc::from_raw(data as *const Shared) };
    shared.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
}

/// On the JS thread: settles every call that finished since the last wake-up.
unsafe extern "C" fn call_js(env: sys::napi_env, _f: sys::napi_value, context: *mut c_void, _data: *mut c_void) {
    if env.is_null() {
        return; // the threadsafe function is being finalized
    }
    let shared = unsafe { &*(context as *const Shared) };
    let batch = match shared.queue.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        Some(q) => std::mem::take(q),
        None => return,
    };
    let n = batch.len();
    for done in batch {
        unsafe {
            match (done.settle)(env) {
                Ok(v) => sys::napi_resolve_deferred(env, done.deferred, v),
                Err(e) => sys::napi_reject_deferred(env, done.deferred, napi::JsError::from(e).into_value(env)),
            };
        }
    }
    if n > 0 && shared.inflight.fetch_sub(n, Ordering::Relaxed) == n {
        unsafe { sys::napi_unref_threadsafe_function(env, shared.tsfn.load(Ordering::Acquire)) };
    }
}

/// Delivers a call's completion; a call dropped unfinished (a panic) rejects.
struct Completion {
    shared: Arc<Shared>,
    deferred: Option<sys::napi_deferred>,
}

// SAFETY: see `Done`.
unsafe impl Send for Completion {}

impl Completion {
    fn complete(mut self, settle: Settle) {
        if let Some(deferred) = self.deferred.take() {
            deliver(&self.shared, Done { deferred, settle });
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if let Some(deferred) = self.deferred.take() {
            let settle: Settle = Box::new(|_| Err(Error::new(Status::GenericFailure, "the call was aborted".to_owned())));
            deliver(&self.shared, Done { deferred, settle });
        }
    }
}

fn deliver(shared: &Shared, done: Done) {
    let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
    let Some(q) = q.as_mut() else { return }; // the env is gone
    q.push(done);
    if q.len() == 1 {
        // Under the lock: teardown cannot finalize the function between the check and the call.
        unsafe {
            sys::napi_call_threadsafe_function(
                shared.tsfn.load(Ordering::Acquire),
                ptr::null_mut(),
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        };
    }
}

/// Runs the future `make` returns on the I/O thread; `convert` turns its output into the JS value the promise
/// resolves with, on the JS thread.
pub fn spawn<'env, T, V, M, F, C>(env: &'env Env, make: M, convert: C) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    M: FnOnce() -> F + Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
    C: FnOnce(&'env Env, T) -> Result<V> + Send + 'static,
{
    let inbox = inbox()?;
    let raw = env.raw();
    let shared = local(raw)?;
    let (mut deferred, mut promise) = (ptr::null_mut(), ptr::null_mut());
    check(unsafe { sys::napi_create_promise(raw, &mut deferred, &mut promise) }, "napi_create_promise")?;
    if shared.inflight.fetch_add(1, Ordering::Relaxed) == 0 {
        check(unsafe { sys::napi_ref_threadsafe_function(raw, shared.tsfn.load(Ordering::Acquire)) }, "napi_ref_threadsafe_function")?;
    }
    let completion = Completion { shared, deferred: Some(deferred) };
    inbox.submit(Box::new(move || {
        tokio::spawn(async move {
            let out = make().await;
            completion.complete(Box::new(move |raw_env| {
                let env = Env::from_raw(raw_env);
                // SAFETY: the env outlives this call, which runs on its JS thread (as in napi-rs).
                let env: &'env Env = unsafe { std::mem::transmute::<&Env, &'env Env>(&env) };
                let v = convert(env, out?)?;
                unsafe { V::to_napi_value(raw_env, v) }
            }));
        });
    }));
    Ok(PromiseRaw::new(raw, promise))
}

/// `spawn` for outputs that convert as they are.
pub fn spawn_value<'env, T, M, F>(env: &'env Env, make: M) -> Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
    M: FnOnce() -> F + Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    spawn(env, make, |_, v| Ok(v))
}

/// A JS buffer read in place by the I/O thread. The caller must not change it until the call
/// settles (lib/store.js hands over fresh buffers); a reference keeps it alive until then.
pub struct Borrowed {
    ptr: *const u8,
    len: usize,
    reference: sys::napi_ref,
    shared: Arc<Shared>,
}

// SAFETY: the bytes stay valid while the reference is held (it is deleted on the JS thread
// only, in `release`) and while the env lives (`with` checks that under `reading`).
unsafe impl Send for Borrowed {}

impl Borrowed {
    /// On the JS thread.
    pub fn new(env: &Env, buffer: &BufferSlice) -> Result<Self> {
        let raw = env.raw();
        let shared = local(raw)?;
        let bytes: &[u8] = buffer;
        let mut reference = ptr::null_mut();
        check(unsafe { sys::napi_create_reference(raw, buffer.value().value, 1, &mut reference) }, "napi_create_reference")?;
        Ok(Borrowed { ptr: bytes.as_ptr(), len: bytes.len(), reference, shared })
    }

    /// Runs `f` on the bytes; `None` when the env is gone (nothing may be read then).
    pub fn with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let _reading = self.shared.reading.read().unwrap_or_else(|p| p.into_inner());
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner()).as_ref()?;
        // SAFETY: see the `Send` impl; the env lives while `_reading` is held.
        Some(f(unsafe { std::slice::from_raw_parts(self.ptr, self.len) }))
    }

    /// On the JS thread, once the call is settled.
    pub fn release(self, env: &Env) {
        unsafe { sys::napi_delete_reference(env.raw(), self.reference) };
    }
}
