// A fixture for the codec's command tests: frames a simple command and
// decodes it back. The decoder (and so the returned command) lives in the
// fixture until the next call. Single-threaded, like the tests using it.
#pragma once

#include <gtest/gtest.h>

extern "C" {
#include "codec/commands.h"
#include "codec/frame.h"
}

class CodecRoundTrip : public ::testing::Test {
protected:
  pc_decoder d_;
  pc_frame f_;
  void SetUp() override { pc_decoder_init(&d_, PC_FRAME_DEFAULT_MAX); }
  void TearDown() override { pc_decoder_free(&d_); }

  const Pulsarc__BaseCommand *RoundTrip(const Pulsarc__BaseCommand *cmd) {
    pc_buf b = {};
    EXPECT_EQ(pc_frame_append_command(&b, cmd), 0);
    EXPECT_EQ(pc_decoder_feed(&d_, b.data, b.len), 0);
    pc_buf_free(&b);
    if (pc_decoder_next(&d_, &f_) != 1) {
      ADD_FAILURE() << "the frame did not decode";
      return nullptr;
    }
    EXPECT_FALSE(f_.has_payload);
    return f_.cmd;
  }
};
