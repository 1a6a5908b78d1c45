#!/usr/bin/python3
"""Serve an H.264 mp4 over RTSP on 127.0.0.1, looping forever: a stand-in camera for ingest tests and demos.

Usage: /usr/bin/python3 scripts/rtsp-serve.py FILE [--port N] [--path /camera]

--port 0 (the default) lets the system pick a free port. When the server listens it prints one line
    READY rtsp://127.0.0.1:<port>/<path>
on stdout. It stops when its stdin closes, or on SIGTERM / SIGINT.

The media is shared (every client sees the same stream) and loops: at the end of the file the
demuxer seeks back to the start and the timestamps keep rising (see loop_forever). Needs python3-gi
and gir1.2-gst-rtsp-server-1.0: run it with the system /usr/bin/python3.
"""

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def loop_forever(factory, media):
    """Make a prepared media restart its file at the end instead of ending the stream.

    A probe on h264parse's sink pad sees the demuxer's output. At the end of the file it drops the
    EOS (so the payloader and sinks never end), asks the demuxer for a flushing seek back to the
    start and drops the flush events of that seek (only those: the media's own seeks pass). It
    shifts the pad's running time by the length played so far, so timestamps keep rising.
    (A non-flushing seek does not work: the demuxer's pad stays at EOS and refuses new data.)
    """
    pipeline = media.get_element()
    demux = pipeline.get_by_name("demux")
    sink = pipeline.get_by_name("parse").get_static_pad("sink")
    state = {"segment": None, "end": 0, "offset": 0, "looping": False}

    def seek_to_start():
        demux.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        return False

    def on_data(pad, info):
        if info.type & Gst.PadProbeType.BUFFER:
            buffer = info.get_buffer()
            segment = state["segment"]
            if segment is not None and buffer.pts != Gst.CLOCK_TIME_NONE:
                running = segment.to_running_time(Gst.Format.TIME, buffer.pts)
                if running != Gst.CLOCK_TIME_NONE:
                    duration = buffer.duration if buffer.duration != Gst.CLOCK_TIME_NONE else 0
                    state["end"] = max(state["end"], running + duration)
            return Gst.PadProbeReturn.OK
        event = info.get_event()
        if event.type == Gst.EventType.SEGMENT:
            state["segment"] = event.parse_segment().copy()
        elif event.type == Gst.EventType.EOS:
            # The segments seen here already carry the pad offset, so "end" is the total running time.
            state["offset"] = state["end"]
            state["looping"] = True
            pad.set_offset(state["offset"])
            GLib.idle_add(seek_to_start)
            return Gst.PadProbeReturn.DROP
        elif event.type == Gst.EventType.FLUSH_START and state["looping"]:
            return Gst.PadProbeReturn.DROP
        elif event.type == Gst.EventType.FLUSH_STOP and state["looping"]:
            state["looping"] = False
            return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK

    sink.add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM | Gst.PadProbeType.EVENT_FLUSH, on_data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="an mp4 file with an H.264 video track")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: pick a free one)")
    parser.add_argument("--path", default="/camera", help="mount path, e.g. /camera")
    args = parser.parse_args()

    path = os.path.abspath(args.file)
    if not os.path.isfile(path):
        print(f"rtsp-serve: no such file: {path}", file=sys.stderr)
        return 2
    mount = args.path if args.path.startswith("/") else "/" + args.path

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    location = path.replace("\\", "\\\\").replace('"', '\\"')
    factory.set_launch(
        f'( filesrc location="{location}" ! qtdemux name=demux ! h264parse name=parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
    )
    factory.set_shared(True)
    factory.connect("media-configure", loop_forever)
    server.get_mount_points().add_factory(mount, factory)

    if server.attach(None) == 0:
        print(f"rtsp-serve: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1

    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)

    def on_stdin(fd, condition):
        # Nothing is expected on stdin: any end of it (EOF, hang-up, error) stops the server.
        if condition & GLib.IOCondition.IN and os.read(fd, 4096):
            return True
        loop.quit()
        return False

    GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR, on_stdin)

    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}{mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
