//! [`ResponseBody`]: the response body the client reads. It captures the
//! response body for the entry (a `BodyCapture`, capped as the request's
//! is), watches for gRPC trailers, and finishes the entry when it ends.
//!
//! It does not buffer the body: frames pass through as they come.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::classify::{ClassifyOutcome, DefaultClassifier};
use crate::entry::{End, InFlightEntry};
use crate::record::RecordTask;

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Full { data: Option<Bytes> },
    }
}

impl<B: Body> Kind<B> {
    fn is_end_stream(&self) -> bool {
        match self {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Full { data } => data.is_none(),
        }
    }
}

pin_project! {
    /// The response body the client receives: the inner service's body (or
    /// one the layer made, for a refused request or a panic).
    ///
    /// When the entry needs the end of the body (a gRPC status in the
    /// trailers, or a captured response body at
    /// [`Level::RequestResponse`](crate::Level::RequestResponse)) the body
    /// records it before it yields its last frame; a body dropped before its
    /// end records it on drop. `C` is the layer's outcome classifier, which
    /// runs then.
    pub struct ResponseBody<B, C: ClassifyOutcome = DefaultClassifier> {
        #[pin]
        kind: Kind<B>,
        entry: Option<InFlightEntry<C>>,
        record: Option<RecordTask>,
        held: Option<Frame<Bytes>>,
    }
}

impl<B, C: ClassifyOutcome> ResponseBody<B, C> {
    pub(crate) fn new(body: B, entry: Option<InFlightEntry<C>>) -> Self {
        Self { kind: Kind::Inner { body }, entry, record: None, held: None }
    }

    pub(crate) fn full(data: Bytes) -> Self {
        let data = (!data.is_empty()).then_some(data);
        Self { kind: Kind::Full { data }, entry: None, record: None, held: None }
    }
}

impl<B, C: ClassifyOutcome> fmt::Debug for ResponseBody<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &std::any::type_name::<B>())
            .field("entry", &self.entry.is_some())
            .finish_non_exhaustive()
    }
}

impl<B, C> Body for ResponseBody<B, C>
where
    C: ClassifyOutcome,
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        loop {
            if let Some(task) = this.record.as_mut() {
                let _ = ready!(task.poll(cx));
                *this.record = None;
                return Poll::Ready(this.held.take().map(Ok));
            }
            let frame = match this.kind.as_mut().project() {
                KindProj::Inner { body } => ready!(body.poll_frame(cx)),
                KindProj::Full { data } => data.take().map(|d| Ok(Frame::data(d))),
            };
            match frame {
                Some(Ok(frame)) => {
                    if let Some(trailers) = frame.trailers_ref() {
                        if let Some(mut entry) = this.entry.take() {
                            entry.observe_trailers(trailers);
                            *this.record = entry.finish(End::BodyEnded);
                            if this.record.is_some() {
                                *this.held = Some(frame);
                                continue;
                            }
                        }
                    } else if let (Some(data), Some(entry)) =
                        (frame.data_ref(), this.entry.as_mut())
                    {
                        entry.observe_response_data(data);
                        // Servers stop polling a body that says it has ended
                        // (or whose declared length is written): finish now.
                        if this.kind.as_ref().get_ref().is_end_stream()
                            && let Some(mut entry) = this.entry.take()
                        {
                            *this.record = entry.finish(End::BodyEnded);
                            if this.record.is_some() {
                                *this.held = Some(frame);
                                continue;
                            }
                        }
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Some(Err(e)) => {
                    if let Some(mut entry) = this.entry.take() {
                        entry.finish_in_background(End::BodyFailed);
                    }
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    if let Some(mut entry) = this.entry.take() {
                        *this.record = entry.finish(End::BodyEnded);
                        *this.held = None;
                        continue;
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // While an entry is still to be recorded, the end must be polled for.
        if self.entry.is_some() || self.record.is_some() || self.held.is_some() {
            return false;
        }
        self.kind.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
